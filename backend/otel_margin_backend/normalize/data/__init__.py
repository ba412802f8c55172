"""The bundled o200k_base tokenizer file (read with importlib.resources)."""
