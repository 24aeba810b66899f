"""`simrl fields [SECTION]` lists every field with its default, doc and allowed values;
--help shows defaults."""

import dataclasses

from simrl.cli import main
from simrl.config import SECTIONS


def test_fields_lists_every_field_with_default_doc_and_allowed(capsys):
    assert main(["fields"]) == 0
    out = capsys.readouterr().out
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert f"\n{section}.{f.name} = " in out or out.startswith(
                f"[{section}]\n{section}.{f.name} = "
            )
    assert (
        "\nalgo.group_size = 8\n    responses sampled per prompt G; must be an integer >= 1" in out
    )
    assert "\ntask.reasoning_tokens = 4\n" in out
    assert "\nbridge.model = " in out


def test_fields_of_one_section(capsys):
    assert main(["fields", "optim"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[optim]\noptim.kind = ") and "algo." not in out


def test_an_unknown_section_is_one_line(capsys):
    assert main(["fields", "algorithm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "task, reward, algo, optim, run, policy, bridge" in err


def test_help_shows_defaults(capsys):
    try:
        main(["bench", "--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert "(default: 256)" in out and "(default: 3)" in out
