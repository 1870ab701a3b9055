"""mtl-demo: the whole story on one machine (main.py), in stages with one job each."""
