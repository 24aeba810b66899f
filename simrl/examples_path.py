"""Where the shipped example configs live (inside the installed package)."""

from pathlib import Path

EXAMPLES = Path(__file__).parent / "examples"
