"""Headless ComfyUI helpers: workflow format conversion and an API client (no ComfyUI imports)."""
