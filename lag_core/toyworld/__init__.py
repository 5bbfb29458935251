"""Toy world: procedural 64x64 scenes with captions, a pixel judge, and small models trained on
them, so that the pipeline has an embedded default in which meaning can be seen and measured."""
