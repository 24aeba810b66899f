"""A character-level tokenizer for the arithmetic task, built in code (no hub).

Ids: 0 `<pad>`, 1 `<bos>`, 2 `<eos>`, then one id per character of the task's alphabet.
A prompt is `<bos>` + its characters; a completion ends with `<eos>`.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIALS = ("<pad>", "<bos>", "<eos>")
ALPHABET = "0123456789+*={},"


class CharTokenizer:
    pad_id, bos_id, eos_id = 0, 1, 2

    def __init__(self, alphabet: str = ALPHABET):
        self.alphabet = alphabet
        self.itos = [*SPECIALS, *alphabet]
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(
                f"character {e.args[0]!r} is not in the alphabet {self.alphabet!r}"
            ) from None

    def decode(self, ids) -> str:
        """Characters of the ids up to (excluding) the first `<eos>`; specials dropped."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i >= len(SPECIALS):
                out.append(self.itos[i])
        return "".join(out)

    def save(self, folder: str | Path) -> None:
        Path(folder, "char_tokenizer.json").write_text(json.dumps({"alphabet": self.alphabet}))

    @classmethod
    def load(cls, folder: str | Path) -> CharTokenizer:
        return cls(json.loads(Path(folder, "char_tokenizer.json").read_text())["alphabet"])

    def to_hf(self):
        """The same tokenizer as a `transformers` PreTrainedTokenizerFast (same ids; a
        text's encoding starts with `<bos>`), for libraries that need one (TRL)."""
        from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
        from transformers import PreTrainedTokenizerFast

        vocab = {s: i for i, s in enumerate(self.itos)}
        t = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIALS[0]))
        t.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
        t.decoder = decoders.Fuse()
        t.post_processor = processors.TemplateProcessing(
            single=f"{SPECIALS[1]} $A", special_tokens=[(SPECIALS[1], self.bos_id)]
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=t,
            pad_token=SPECIALS[0],
            bos_token=SPECIALS[1],
            eos_token=SPECIALS[2],
            padding_side="left",
        )
