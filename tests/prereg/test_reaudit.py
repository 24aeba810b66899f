"""simrl reaudit: the decomposition of published gains, and claims against registered verdicts."""

import json

import pytest

from simrl.reaudit import run

PUBLISHED = """paper,arxiv,version,location,model,benchmark,condition,value,unit,verified,source,note
P,2506.10947,v2,abstract,M,MATH-500,ground_truth,29.1,points,yes,u,
P,2506.10947,v2,abstract,M,MATH-500,majority_vote,27.1,points,yes,u,
P,2506.10947,v2,abstract,M,MATH-500,random,21.4,points,yes,u,
P,2506.10947,v2,abstract,M,MATH-500,format,13.8,points,yes,u,
P,2506.10947,v2,abstract,L,MATH-500,random,,qualitative,no,u,
"""
CLAIMS = """claim,paper,statement,study,hypotheses,reproduced_if
C1,P,holds,s,H1 H2,supported
C2,P,mixed,s,H1 H3,supported
C3,P,fails as predicted,s,H3,not supported
C4,P,open,s,H4,supported
C5,P,not analysed,other,H1,supported
"""


def test_reaudit_decomposes_and_checks_claims(tmp_path):
    folder = tmp_path / "reaudits"
    folder.mkdir()
    (folder / "published.csv").write_text(PUBLISHED)
    (folder / "claims.csv").write_text(CLAIMS)
    study = tmp_path / "s"
    study.mkdir()
    verdicts = {
        "H1": "supported",
        "H2": "supported",
        "H3": "not supported",
        "H4": "inconclusive",
    }
    (study / "verdicts.json").write_text(
        json.dumps(
            {
                "hypotheses": {
                    k: {"verdict": v, "estimate": 0.1, "ci": [0.0, 0.2]}
                    for k, v in verdicts.items()
                }
            }
        )
    )
    text = run(folder).read_text()
    # 29.1 total = 21.4 null + 5.7 elicitation + 2.0 reward design; naive 7.7
    assert "the naive 'true minus random' is 7.7 points while random alone gave 21.4" in text
    assert "reward design is 2 points: 26% of the naive estimate and 6.9% of the headline" in text
    # the point with its interval: 2.0 +- 1.96 x 100 sqrt(2 / (4 x 500)) = [-4.2, 8.2]
    assert "95% interval from the sampling of the MATH-500 problems alone is [-4.2, 8.2]" in text
    assert "which includes zero" in text
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in text.splitlines()
        if line.startswith("| C")
    }
    assert "| reproduced |" in rows["C1"]
    assert "| partly reproduced |" in rows["C2"]
    assert "| reproduced |" in rows["C3"]
    assert "| open |" in rows["C4"]
    assert "not analysed" in rows["C5"]
    assert "2506.10947" in text  # the arXiv id kept as text


def test_reaudit_cli_refuses_a_missing_folder(tmp_path, capsys):
    from simrl.cli import main

    assert main(["reaudit", "--dir", str(tmp_path / "none")]) == 2
    assert "published.csv" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["published.csv", "claims.csv"])
def test_shipped_reaudit_tables_parse(name):
    import pandas as pd

    from simrl.examples_path import EXAMPLES

    root = EXAMPLES.parents[1] / "experiments" / "reaudits"
    if not root.is_dir():
        pytest.skip("experiments/ is not shipped with an installed package")
    df = pd.read_csv(root / name, dtype=str)
    assert len(df) > 0 and not df.columns.duplicated().any()
