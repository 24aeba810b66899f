"""The checks of a user's model folder (`bridge.model = PATH`) that need no torch: run
by the CLI before the bridge's heavy imports, and by `model.load_hf` itself."""

from __future__ import annotations

from pathlib import Path

from simrl.errors import ConfigError

#: a folder holds a tokenizer if it has one of these (HuggingFace `save_pretrained`)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
#: the names of `bridge.model` that are not folders
BUILT_IN = ("", "smollm2")


def check_model_folder(model: str | Path) -> None:
    """ConfigError unless `model` is a built-in name or a folder with a HuggingFace
    config.json and a tokenizer."""
    if str(model) in BUILT_IN:
        return
    folder = Path(model)
    if not (folder / "config.json").is_file():
        raise ConfigError(
            "bridge.model", str(folder), "must be a folder with a HuggingFace causal LM"
        )
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ConfigError(
            "bridge.model",
            str(folder),
            f"has no tokenizer (none of {', '.join(TOKENIZER_FILES)}): save it beside the "
            "model with tokenizer.save_pretrained(folder)",
        )
