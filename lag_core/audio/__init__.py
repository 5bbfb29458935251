"""Audio: decoding, LAG-compatible MFCC, and the audio encoder."""
