"""The runbooks shipped with inferwatch, installed as package data (``inferwatch.runbooks``) so a worker finds them
wherever it runs; ``alerting.runbooks_dir`` points at your own directory instead."""
from pathlib import Path

#: the directory holding the shipped ``*.md`` runbooks
DIRECTORY = Path(__file__).parent
