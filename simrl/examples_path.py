"""Where the shipped example configs live (inside the installed package)."""

from pathlib import Path

EXAMPLES = Path(__file__).parent / "examples"


def example(path: Path) -> Path:
    """A config path as given, or, when no such file exists, the shipped example it names:
    `simrl/examples/quickstart.toml` (the README's spelling, which only exists in a
    checkout) or a bare `quickstart` / `quickstart.toml`, so the documented commands work
    from any folder with an installed simrl."""
    path = Path(path)
    if path.exists():
        return path
    parts = path.parts
    if parts[:2] == ("simrl", "examples") and len(parts) == 3:
        name = parts[2]
    elif len(parts) == 1:
        name = parts[0] if path.suffix == ".toml" else f"{parts[0]}.toml"
    else:
        return path
    shipped = EXAMPLES / name
    return shipped if shipped.is_file() else path
