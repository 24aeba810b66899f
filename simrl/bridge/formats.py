"""How problems become token prompts and completions become answers, per kind of model.

`TinyFormat`  the character tokenizer of the built-in model: prompt `<bos>2+3*4=`, the
              verifier of simrl/bridge/task.py (exact grammar), mode = code iff the
              completion starts with the code marker `{`.
`ChatFormat`  any HuggingFace causal LM with a chat template (SmolLM2-135M-Instruct): the
              problem asked in words, the verifier takes the last integer of the reply,
              mode = code iff the reply writes out at least one computation `a op b = c`
              (a heuristic label, named as such: there is no marker to read).
A completion that did not reach the end token within max_new_tokens is not well-formed
(its answer is None) in both formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from simrl.bridge.task import CODE_MARK, Problem, is_code_mode, parse_answer, prompt_text
from simrl.bridge.tokenizer import CharTokenizer

#: mode indices, as the simulator's mode_usage_m: 0 = code (the reliable mode), 1 = prose
CODE, PROSE = 0, 1
NUM_MODES = 2


@dataclass
class TinyFormat:
    tok: CharTokenizer

    @property
    def eos_id(self) -> int:
        return self.tok.eos_id

    @property
    def pad_id(self) -> int:
        return self.tok.pad_id

    def prompt_ids(self, p: Problem) -> list[int]:
        return [self.tok.bos_id, *self.tok.encode(prompt_text(p))]

    def code_prefix(self) -> list[int] | None:
        """Token ids that open the code mode: the probe set's second prefix."""
        return self.tok.encode(CODE_MARK)

    def decode(self, ids) -> str:
        return self.tok.decode(ids)

    def answer(self, text: str, finished: bool) -> int | None:
        return parse_answer(text) if finished else None

    def mode(self, text: str) -> int:
        return CODE if is_code_mode(text) else PROSE


_INT = re.compile(r"-?\d+")
_STEP = re.compile(r"\d+\s*[-+*x×]\s*\d+\s*=\s*\d+")


@dataclass
class ChatFormat:
    tok: Any  # a transformers tokenizer

    @property
    def eos_id(self) -> int:
        return int(self.tok.eos_token_id)

    @property
    def pad_id(self) -> int:
        pad = self.tok.pad_token_id
        return int(pad if pad is not None else self.tok.eos_token_id)

    def question(self, p: Problem) -> str:
        return f"What is {p.text}? Give the final answer as a number."

    def prompt_ids(self, p: Problem) -> list[int]:
        question = self.question(p)
        if getattr(self.tok, "chat_template", None):
            ids = self.tok.apply_chat_template(
                [{"role": "user", "content": question}], add_generation_prompt=True
            )
            ids = ids["input_ids"] if hasattr(ids, "keys") else ids
            return [int(i) for i in ids]
        return [int(i) for i in self.tok(question + "\nAnswer:")["input_ids"]]

    def code_prefix(self) -> list[int] | None:
        return None

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        return self.tok.decode(ids, skip_special_tokens=True)

    def answer(self, text: str, finished: bool) -> int | None:
        if not finished:
            return None
        found = _INT.findall(text)
        return int(found[-1]) if found else None

    def mode(self, text: str) -> int:
        return CODE if _STEP.search(text) else PROSE
