# Minimal local stubs for pycuda (it ships none): only what mtl_perception uses.
VERSION: tuple[int, int, int]
VERSION_TEXT: str
