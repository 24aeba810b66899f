"""Write the corpus of bad inputs: tests/corpus/<kind>/<case>/ with the input files and a
case.json saying how it is run and what must come back.

    python3 tests/corpus/make_corpus.py      # rewrites every case folder

Kinds: configs (simrl run), specs (simrl prereg register), locks (simrl prereg analyze on
a study with a bad lock), tasks (simrl run --task), models (simrl bridge run --model),
args (bad command-line values, with a valid input). Each case.json holds `args` (with
{case} for the case's folder copied into a temporary one, {examples} for
simrl/examples), `exit` (2 bad input, 3 run-time fault) and `match` (a substring the one
line on stderr must contain: the field, or the file). tests/corpus/test_corpus.py runs
them all through simrl.cli.main in one process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

HERE = Path(__file__).parent
KINDS = ("configs", "specs", "locks", "tasks", "models", "args", "features")

QUICK = """[task]
kind = "bandit"
num_prompts = 8
num_answers = 4
num_correct = 1
prior_strength = 0.2

[reward]
kind = "true"

[algo]
group_size = 4
advantage = "grpo"
loss = "vanilla"
clip_low = 0.2
clip_high = 0.28
epochs = 2

[optim]
kind = "adam"
lr = 0.05

[run]
steps = 4
seeds = 2
eval_every = 2
passk = [1]
"""

#: a linear policy's section, appended after run.passk
P_LIN = 'passk = [1]\n[policy]\nkind = "linear"\n'

#: (case, old, new, match[, appended]): one replacement in QUICK (and `appended` after the
#: last line, when given); `match` must be in the error line
CONFIGS = [
    ("unknown-section", "[reward]", "[rewards]", "rewards"),
    ("unknown-field", 'kind = "true"', 'kind = "true"\nflavour = 1', "reward.flavour"),
    ("task-kind", 'kind = "bandit"', 'kind = "bandits"', "task.kind"),
    ("prompts-zero", "num_prompts = 8", "num_prompts = 0", "task.num_prompts"),
    ("prompts-negative", "num_prompts = 8", "num_prompts = -3", "task.num_prompts"),
    ("prompts-float", "num_prompts = 8", "num_prompts = 8.5", "task.num_prompts"),
    ("prompts-string", "num_prompts = 8", 'num_prompts = "8"', "task.num_prompts"),
    ("prompts-bool", "num_prompts = 8", "num_prompts = true", "task.num_prompts"),
    ("answers-one", "num_answers = 4", "num_answers = 1", "num_answers"),
    ("correct-too-many", "num_correct = 1", "num_correct = 9", "num_correct"),
    ("prior-nan", "prior_strength = 0.2", "prior_strength = nan", "task.prior_strength"),
    ("prior-inf", "prior_strength = 0.2", "prior_strength = inf", "task.prior_strength"),
    ("prior-string", "prior_strength = 0.2", 'prior_strength = "0.2"', "task.prior_strength"),
    ("reward-kind", 'kind = "true"', 'kind = "truth"', "reward.kind"),
    ("group-zero", "group_size = 4", "group_size = 0", "algo.group_size"),
    ("group-one", "group_size = 4", "group_size = 1", "group_size"),
    ("group-list", "group_size = 4", "group_size = [4]", "algo.group_size"),
    ("advantage", 'advantage = "grpo"', 'advantage = "gae"', "algo.advantage"),
    ("loss", 'loss = "vanilla"', 'loss = "ppo"', "algo.loss"),
    ("clip-low-negative", "clip_low = 0.2", "clip_low = -0.2", "algo.clip_low"),
    ("clip-low-nan", "clip_low = 0.2", "clip_low = nan", "algo.clip_low"),
    ("clip-high-string", "clip_high = 0.28", 'clip_high = "wide"', "algo.clip_high"),
    ("epochs-zero", "epochs = 2", "epochs = 0", "algo.epochs"),
    ("std-eps-negative", "epochs = 2", "epochs = 2\nstd_eps = -1e-6", "algo.std_eps"),
    ("agg", "epochs = 2", 'epochs = 2\nagg = "token-median"', "algo.agg"),
    ("optim-kind", 'kind = "adam"', 'kind = "lion"', "optim.kind"),
    ("lr-zero", "lr = 0.05", "lr = 0.0", "optim.lr"),
    ("lr-nan", "lr = 0.05", "lr = nan", "optim.lr"),
    ("lr-negative-inf", "lr = 0.05", "lr = -inf", "optim.lr"),
    ("lr-bool", "lr = 0.05", "lr = false", "optim.lr"),
    ("steps-zero", "steps = 4", "steps = 0", "run.steps"),
    ("seeds-zero", "seeds = 2", "seeds = 0", "run.seeds"),
    ("eval-every-zero", "eval_every = 2", "eval_every = 0", "run.eval_every"),
    ("passk-zero", "passk = [1]", "passk = [0]", "run.passk"),
    ("passk-string", "passk = [1]", 'passk = "1"', "run.passk"),
    ("passk-duplicates", "passk = [1]", "passk = [1, 1]", "run.passk"),
    ("seed-negative", "seeds = 2", "seeds = 2\nseed = -1", "run.seed"),
    ("on-nonfinite", "seeds = 2", 'seeds = 2\non_nonfinite = "ignore"', "run.on_nonfinite"),
    ("audit-string", "seeds = 2", 'seeds = 2\naudit = "false"', "run.audit"),
    ("seeds-huge", "seeds = 2", "seeds = 1000000000", "needs about"),
    ("answers-huge", "num_answers = 4", "num_answers = 10000000", "needs about"),
    ("rows-huge", "steps = 4", "steps = 1000000000", "needs about"),
    ("section-not-table", '[reward]\nkind = "true"', 'reward = "true"', "reward"),
    ("top-level-key", "[task]", "name = 1\n[task]", "name"),
    # the policy class (simrl/policy.py)
    ("policy-kind", "passk = [1]", 'passk = [1]\n[policy]\nkind = "mlp"', "policy.kind"),
    ("policy-rho-one", "passk = [1]", P_LIN + "rho = 1.0", "policy.rho"),
    ("policy-rho-negative", "passk = [1]", P_LIN + "rho = -0.1", "policy.rho"),
    ("policy-rho-nan", "passk = [1]", P_LIN + "rho = nan", "policy.rho"),
    ("policy-rank-large", "passk = [1]", P_LIN + 'features = "low_rank"\nrank = 9', "policy.rank"),
    ("policy-dim-zero", "passk = [1]", P_LIN + "dim = 0", "policy.dim"),
    ("policy-tabular-rho", "passk = [1]", "passk = [1]\n[policy]\nrho = 0.5", "policy.rho"),
    # the quadrant split is tabular only (config_checks: a quadrant's displacement is its
    # tokens' sgd step on the logits)
    (
        "policy-linear-quadrants",
        "passk = [1]",
        "passk = [1]\naudit = true\naudit_quadrants = true\n" + P_LIN[12:],
        "run.audit_quadrants",
    ),
    (
        "policy-file-suffix",
        "passk = [1]",
        P_LIN + 'features = "file"\nfeatures_file = "phi.txt"',
        "policy.features_file",
    ),
]

SPEC = """title = "corpus"
question = "is a bad spec refused in one line?"

[design]
seeds = 4
steps = 4
eval_every = 2
passk = [1]
stopping_rule = "fixed"

[config]
task = { kind = "bandit", num_prompts = 4, num_answers = 4 }
algo = { group_size = 4 }
optim = { kind = "sgd" }

[[factor]]
name = "reward"
field = "reward.kind"
levels = ["frozen", "true"]

[[factor]]
name = "lr"
field = "optim.lr"
levels = [0.25, 1.0]

[outcomes]
primary = ["acc"]
secondary = ["entropy_mean"]

[analysis]
model = "acc ~ C(reward, Sum) * C(lr, Sum)"

[[hypothesis]]
id = "H1"
statement = "the true reward raises accuracy"
outcome = "acc"
test = "paired"
factor = "reward"
contrast = ["true", "frozen"]
direction = "greater"
sesoi = 0.01
"""

_H = 'test = "paired"\nfactor = "reward"\ncontrast = ["true", "frozen"]'
#: (case, old, new, match) on SPEC
SPECS = [
    (
        "injection",
        'model = "acc ~ C(reward, Sum) * C(lr, Sum)"',
        "model = \"acc ~ C(reward, Sum) + I(seed * 0 + __import__('os').system('echo pwned'))\"",
        "analysis.model",
    ),
    (
        "injection-q",
        'model = "acc ~ C(reward, Sum) * C(lr, Sum)"',
        "model = 'Q(__import__(\"os\").getcwd()) ~ C(reward)'",
        "analysis.model",
    ),
    (
        "injection-call",
        'model = "acc ~ C(reward, Sum) * C(lr, Sum)"',
        'model = "acc ~ C(reward, Sum) + np.log(lr)"',
        "analysis.model",
    ),
    (
        "formula-unparsable",
        'model = "acc ~ C(reward, Sum) * C(lr, Sum)"',
        'model = "acc ~ ((( +"',
        "analysis.model",
    ),
    (
        "formula-no-tilde",
        'model = "acc ~ C(reward, Sum) * C(lr, Sum)"',
        'model = "acc C(reward)"',
        "analysis.model",
    ),
    ("formula-unknown-factor", 'C(lr, Sum)"', 'C(rate, Sum)"', "analysis.model"),
    ("formula-coding", 'C(lr, Sum)"', 'C(lr, Poly)"', "analysis.model"),
    ("formula-number", 'C(lr, Sum)"', 'C(lr, Sum) + 3"', "analysis.model"),
    ("formula-power", 'C(lr, Sum)"', 'C(lr, Sum) ** 2"', "analysis.model"),
    ("formula-semicolon", 'C(lr, Sum)"', 'C(lr, Sum); x"', "analysis.model"),
    (
        "formula-deep",
        'model = "acc ~ C(reward, Sum) * C(lr, Sum)"',
        'model = "acc ~ ' + "(" * 30 + "C(lr)" + ")" * 30 + '"',
        "analysis.model",
    ),
    ("formula-outcome", 'model = "acc ~', 'model = "accuracy ~', "analysis.model"),
    ("formula-int", 'model = "acc ~ C(reward, Sum) * C(lr, Sum)"', "model = 5", "analysis.model"),
    ("mixed-string", "[analysis]", '[analysis]\nmixed = "false"', "analysis.mixed"),
    ("mixed-int", "[analysis]", "[analysis]\nmixed = 0", "analysis.mixed"),
    ("by-int", "[analysis]", "[analysis]\nby = 5", "analysis.by"),
    ("by-unknown", "[analysis]", '[analysis]\nby = ["nope"]', "analysis.by"),
    ("n-boot-huge", "[analysis]", "[analysis]\nn_boot = 1000000000000", "analysis.n_boot"),
    ("n-boot-small", "[analysis]", "[analysis]\nn_boot = 10", "analysis.n_boot"),
    ("n-boot-float", "[analysis]", "[analysis]\nn_boot = 2000.0", "analysis.n_boot"),
    ("correction", "[analysis]", '[analysis]\ncorrection = "sidak"', "analysis.correction"),
    ("analysis-unknown", "[analysis]", "[analysis]\nrobust = true", "analysis.robust"),
    (
        "nonfinite-string",
        "[analysis]",
        '[exclusions]\nnonfinite = "false"\n\n[analysis]',
        "exclusions.nonfinite",
    ),
    (
        "exclusions-unknown",
        "[analysis]",
        "[exclusions]\nnan = true\n\n[analysis]",
        "exclusions.nan",
    ),
    (
        "exploratory-int",
        "[analysis]",
        "[exploratory]\noutcomes = 3\n\n[analysis]",
        "exploratory.outcomes",
    ),
    (
        "exploratory-unknown-outcome",
        "[analysis]",
        '[exploratory]\noutcomes = ["entropy_meen"]\n\n[analysis]',
        "exploratory.outcomes",
    ),
    ("metrics-int", "stopping_rule", "metrics = 5\nstopping_rule", "design.metrics"),
    (
        "metrics-unknown",
        "stopping_rule",
        'metrics = ["acc", "nope"]\nstopping_rule',
        "design.metrics",
    ),
    ("seeds-one", "seeds = 4", "seeds = 1", "design.seeds"),
    ("seeds-string", "seeds = 4", 'seeds = "4"', "design.seeds"),
    ("seeds-float", "seeds = 4", "seeds = 4.0", "design.seeds"),
    ("steps-zero", "steps = 4", "steps = 0", "design.steps"),
    ("steps-bool", "steps = 4", "steps = true", "design.steps"),
    ("eval-every-zero", "eval_every = 2", "eval_every = 0", "design.eval_every"),
    ("passk-string", "passk = [1]", 'passk = "1"', "design.passk"),
    ("passk-zero", "passk = [1]", "passk = [0]", "design.passk"),
    ("backend", "seeds = 4", 'backend = "gpu"\nseeds = 4', "design.backend"),
    ("engine", "seeds = 4", 'engine = "turbo"\nseeds = 4', "design.engine"),
    ("stopping-missing", 'stopping_rule = "fixed"', "", "design.stopping_rule"),
    ("stopping-int", 'stopping_rule = "fixed"', "stopping_rule = 1", "design.stopping_rule"),
    ("design-unknown", "seeds = 4", "seeds = 4\nsteps_per_seed = 2", "design.steps_per_seed"),
    ("design-missing", "[design]", "[designs]", "designs"),
    ("title-missing", 'title = "corpus"', "", "title"),
    ("title-int", 'title = "corpus"', "title = 3", "title"),
    (
        "config-run-steps",
        'optim = { kind = "sgd" }',
        'optim = { kind = "sgd" }\nrun = { steps = 5 }',
        "config.run.steps",
    ),
    (
        "config-unknown-section",
        'optim = { kind = "sgd" }',
        'optim = { kind = "sgd" }\nmodel = { size = 1 }',
        "config.model",
    ),
    ("config-bad-value", "group_size = 4 }", "group_size = 0 }", "algo.group_size"),
    ("config-std-eps", "group_size = 4 }", "group_size = 4, std_eps = -1 }", "algo.std_eps"),
    ("factor-field", 'field = "optim.lr"', 'field = "optim.learning_rate"', "optim.learning_rate"),
    ("factor-level-bad", "levels = [0.25, 1.0]", "levels = [0.25, -1.0]", "optim.lr"),
    ("factor-level-nan", "levels = [0.25, 1.0]", "levels = [0.25, nan]", "optim.lr"),
    ("factor-one-level", "levels = [0.25, 1.0]", "levels = [0.25]", "factor.lr.levels"),
    ("factor-duplicate-levels", "levels = [0.25, 1.0]", "levels = [1.0, 1.0]", "factor.lr.levels"),
    ("factor-name", 'name = "lr"', 'name = "learning rate"', "factor[1].name"),
    ("factor-reserved", 'name = "lr"', 'name = "seed"', "factor[1].name"),
    ("factor-twice", 'field = "optim.lr"', 'field = "reward.kind"', "factor.lr"),
    (
        "factor-run-field",
        'field = "optim.lr"\nlevels = [0.25, 1.0]',
        'field = "run.steps"\nlevels = [2, 4]',
        "factor.lr.field",
    ),
    (
        "outcome-unknown",
        'secondary = ["entropy_mean"]',
        'secondary = ["entropy_meen"]',
        "outcomes.secondary",
    ),
    ("outcome-step", 'secondary = ["entropy_mean"]', 'secondary = ["acc@3"]', "outcomes.secondary"),
    (
        "outcome-step-text",
        'secondary = ["entropy_mean"]',
        'secondary = ["acc@two"]',
        "outcomes.secondary",
    ),
    ("primary-empty", 'primary = ["acc"]', "primary = []", "outcomes.primary"),
    ("primary-int", 'primary = ["acc"]', "primary = 1", "outcomes.primary"),
    ("h-test", _H, _H.replace('"paired"', '"ttest"'), "hypothesis H1.test"),
    ("h-direction", 'direction = "greater"', 'direction = "up"', "hypothesis H1.direction"),
    (
        "h-alpha-one",
        'direction = "greater"',
        'direction = "greater"\nalpha = 1.0',
        "hypothesis H1.alpha",
    ),
    (
        "h-alpha-string",
        'direction = "greater"',
        'direction = "greater"\nalpha = "0.05"',
        "hypothesis H1.alpha",
    ),
    ("h-sesoi-missing", "sesoi = 0.01", "", "hypothesis H1.sesoi"),
    ("h-sesoi-negative", "sesoi = 0.01", "sesoi = -0.01", "hypothesis H1.sesoi"),
    ("h-sesoi-nan", "sesoi = 0.01", "sesoi = nan", "hypothesis H1.sesoi"),
    (
        "h-equivalent-zero",
        'direction = "greater"\nsesoi = 0.01',
        'direction = "equivalent"\nsesoi = 0.0',
        "hypothesis H1.sesoi",
    ),
    ("h-id-missing", 'id = "H1"', "", "hypothesis[0].id"),
    ("h-id-int", 'id = "H1"', "id = 1", "hypothesis[0].id"),
    (
        "h-statement-missing",
        'statement = "the true reward raises accuracy"',
        "",
        "hypothesis H1.statement",
    ),
    ("h-unknown-key", "sesoi = 0.01", "sesoi = 0.01\nsesio = 0.01", "hypothesis H1.sesio"),
    ("h-factor-int", 'factor = "reward"', "factor = 5", "hypothesis H1.factor"),
    ("h-factor-list", 'factor = "reward"', "factor = [1, 2]", "hypothesis H1.factor"),
    ("h-factor-unknown", 'factor = "reward"', 'factor = "rewards"', "hypothesis H1.factor"),
    (
        "h-contrast-level",
        'contrast = ["true", "frozen"]',
        'contrast = ["true", "random"]',
        "hypothesis H1.contrast",
    ),
    (
        "h-contrast-same",
        'contrast = ["true", "frozen"]',
        'contrast = ["true", "true"]',
        "hypothesis H1.contrast",
    ),
    (
        "h-contrast-three",
        'contrast = ["true", "frozen"]',
        'contrast = ["true", "frozen", "x"]',
        "hypothesis H1.contrast",
    ),
    ("h-against-nan", "sesoi = 0.01", "sesoi = 0.01\nagainst = nan", "hypothesis H1.against"),
    ("h-against-string", "sesoi = 0.01", 'sesoi = 0.01\nagainst = "abc"', "hypothesis H1.against"),
    (
        "h-against-paired",
        _H,
        'test = "mean"\nagainst = 0.5\nfactor2 = "lr"',
        "hypothesis H1.factor2",
    ),
    (
        "h-crossing-nan",
        _H,
        'test = "sign_change"\nfactor = "lr"\ncrossing = nan',
        "hypothesis H1.crossing",
    ),
    (
        "h-crossing-word",
        _H,
        'test = "sign_change"\nfactor = "lr"\ncrossing = "middle"',
        "hypothesis H1.crossing",
    ),
    ("h-crossing-missing", _H, 'test = "sign_change"\nfactor = "lr"', "hypothesis H1.crossing"),
    (
        "h-crossing-on-paired",
        "sesoi = 0.01",
        "sesoi = 0.01\ncrossing = 0.5",
        "hypothesis H1.crossing",
    ),
    ("h-trend-nonnumeric", _H, 'test = "trend"\nfactor = "reward"', "hypothesis H1.factor"),
    (
        "h-trend-equivalent-ok-but-where",
        _H,
        'test = "trend"\nfactor = "lr"\nwhere = { lr = "1.0" }',
        "hypothesis H1.where",
    ),
    ("h-anova-no-term", _H, 'test = "anova"', "hypothesis H1.term"),
    ("h-anova-bad-term", _H, 'test = "anova"\nterm = "C(nosuch, Sum)"', "hypothesis H1"),
    (
        "h-anova-equivalent",
        'test = "paired"\nfactor = "reward"\ncontrast = ["true", "frozen"]\ndirection = "greater"',
        'test = "anova"\nterm = "C(lr, Sum)"\ndirection = "equivalent"',
        "hypothesis H1.direction",
    ),
    (
        "h-where-factor",
        "sesoi = 0.01",
        'sesoi = 0.01\nwhere = { rate = "1.0" }',
        "hypothesis H1.where",
    ),
    (
        "h-where-level",
        "sesoi = 0.01",
        'sesoi = 0.01\nwhere = { lr = "2.0" }',
        "hypothesis H1.where.lr",
    ),
    ("h-where-int", "sesoi = 0.01", "sesoi = 0.01\nwhere = 3", "hypothesis H1.where"),
    (
        "h-where-contrasted",
        "sesoi = 0.01",
        'sesoi = 0.01\nwhere = { reward = "true" }',
        "hypothesis H1.where",
    ),
    ("h-each-unknown", "sesoi = 0.01", 'sesoi = 0.01\neach = "rate"', "hypothesis H1.each"),
    ("h-each-same", "sesoi = 0.01", 'sesoi = 0.01\neach = "reward"', "hypothesis H1.each"),
    (
        "h-sensitivity-unknown",
        "sesoi = 0.01",
        'sesoi = 0.01\nsensitivity = "rate"',
        "hypothesis H1.sensitivity",
    ),
    ("h-quantile-range", _H, 'test = "quantile"\nquantile = 1.5', "hypothesis H1.quantile"),
    ("h-share-range", _H, 'test = "proportion"\nshare = 0.0', "hypothesis H1.share"),
    ("h-share-on-median", _H, 'test = "median"\nshare = 0.5', "hypothesis H1.share"),
    (
        "h-median-equivalent",
        _H + '\ndirection = "greater"',
        'test = "median"\ndirection = "equivalent"',
        "hypothesis H1.direction",
    ),
    ("h-outcome-unknown", 'outcome = "acc"', 'outcome = "accuracy"', "hypothesis H1.outcome"),
    ("h-duplicate-id", 'id = "H1"', 'id = "H1"', "hypothesis H1.id"),
    ("h-none", "[[hypothesis]]", "[[hypotheses]]", "hypotheses"),
    (
        "decomposition-factor",
        "[analysis]",
        '[decomposition]\nfactor = "nope"\n\n[analysis]',
        "decomposition.factor",
    ),
    (
        "decomposition-conditions",
        "[analysis]",
        '[decomposition]\nfactor = "reward"\nconditions = 5\n\n[analysis]',
        "decomposition.conditions",
    ),
    (
        "additive-three-levels",
        "[analysis]",
        '[analysis]\nadditive = { factors = ["reward", "nope"] }',
        "analysis.additive.factors",
    ),
    (
        "additive-alpha",
        "[analysis]",
        '[analysis]\nadditive = { factors = ["lr"], alpha = 2 }',
        "analysis.additive.alpha",
    ),
]

LOCK_BASE = {
    "study": "s",
    "spec_sha256": None,  # filled with the spec's hash
    "spec_text": None,
    "simrl_version": "0.1.0",
    "git_commit": "unknown",
    "spec_committed": False,
    "registered_utc": "2026-01-01T00:00:00.000000Z",
    "amendments": [],
}
#: (case, lock text or a function of the good lock dict, match)
LOCKS = [
    ("not-json", "{not json", "valid JSON"),
    ("empty", "", "valid JSON"),
    ("list", "[1, 2]", "a lock holds"),
    ("binary", b"\xff\xfe\x00garbage", "valid JSON"),
    ("no-hash", lambda d: d.pop("spec_sha256"), "spec_sha256"),
    ("no-text", lambda d: d.pop("spec_text"), "spec_text"),
    ("hash-int", lambda d: d.update(spec_sha256=5), "spec_sha256"),
    ("amendments-dict", lambda d: d.update(amendments={}), "amendments"),
    ("amendment-garbage", lambda d: d.update(amendments=[5]), "amendments[0]"),
    ("forged-hash", lambda d: d.update(spec_sha256="0" * 64), "edited after it was written"),
    (
        "forged-text",
        lambda d: d.update(spec_text=d["spec_text"] + "# changed\n"),
        "edited after it was written",
    ),
    ("other-spec", lambda d: d.update(spec_text="x", spec_sha256=_sha("x")), "differs from"),
    (
        "amendment-broken-chain",
        lambda d: d.update(
            amendments=[
                {
                    "spec_sha256": d["spec_sha256"],
                    "spec_text": d["spec_text"],
                    "previous_sha256": "f" * 64,
                    "reason": "r",
                }
            ]
        ),
        "edited after it was written",
    ),
    ("no-registered-time", lambda d: d.pop("registered_utc"), "registered_utc"),
    ("no-study", lambda d: d.pop("study"), "study"),
]

TASKS = [
    ("raises", "def build(config):\n    raise RuntimeError('my bug')\n", "build", "--task"),
    ("returns-none", "def build(config):\n    return None\n", "build", "--task"),
    ("returns-int", "def build(config):\n    return 3\n", "build", "--task"),
    ("syntax-error", "def build(config)\n    return 3\n", "build", "--task"),
    ("import-error", "import no_such_module_xyz\n", "build", "--task"),
    ("not-callable", "build = 5\n", "build", "--task"),
    ("missing-function", "def other(config):\n    pass\n", "build", "--task"),
    ("exits", "import sys\ndef build(config):\n    sys.exit(1)\n", "build", "--task"),
    ("bad-bytes", b"\xff\xfe def build(config): pass\n", "build", "--task"),
    ("recursion", "def build(config):\n    return build(config)\n", "build", "--task"),
    ("keyerror", "def build(config):\n    return {}['x']\n", "build", "--task"),
    ("module-raises", "raise ValueError('at import')\n", "build", "--task"),
]


def _npy(arr) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def _features():
    """(case, files {name: bytes}, match): bad feature files of a linear policy (the task
    is QUICK's: 8 prompts x 4 answers), run with --engine reference."""
    import numpy as np

    nan = np.zeros((8, 4, 2))
    nan[3, 1, 0] = np.nan
    py = "import numpy as np\n"
    return [
        ("npy-missing", {}, "policy.features_file"),
        ("npy-wrong-shape", {"phi.npy": _npy(np.zeros((8, 5, 2)))}, "policy.features_file"),
        ("npy-two-dims", {"phi.npy": _npy(np.zeros((8, 4)))}, "policy.features_file"),
        ("npy-no-features", {"phi.npy": _npy(np.zeros((8, 4, 0)))}, "policy.features_file"),
        ("npy-nan", {"phi.npy": _npy(nan)}, "policy.features_file"),
        ("npy-inf", {"phi.npy": _npy(np.full((8, 4, 2), np.inf))}, "policy.features_file"),
        ("npy-garbage", {"phi.npy": b"not an npy file"}, "policy.features_file"),
        ("npy-strings", {"phi.npy": _npy(np.array([["a"]]))}, "policy.features_file"),
        ("py-wrong-shape", {"phi.py": (py + "def build(c):\n    return np.zeros((7, 4, 2))\n").encode()}, "policy.features_file"),
        ("py-nan", {"phi.py": (py + "def build(c):\n    return np.full((8, 4, 2), np.nan)\n").encode()}, "policy.features_file"),
        ("py-raises", {"phi.py": b"def build(c):\n    raise RuntimeError('my bug')\n"}, "policy.features_file"),
        ("py-returns-none", {"phi.py": b"def build(c):\n    return None\n"}, "policy.features_file"),
        ("py-syntax-error", {"phi.py": b"def build(c)\n    return 1\n"}, "policy.features_file"),
        ("py-not-callable", {"phi.py": b"build = 3\n"}, "policy.features_file"),
    ]  # fmt: skip


FEATURES = _features()

#: (case, files {name: bytes}, match)
MODELS = [
    ("empty-folder", {}, "bridge.model"),
    ("config-not-json", {"config.json": b"{not json"}, "bridge.model"),
    ("config-empty", {"config.json": b""}, "bridge.model"),
    ("config-unknown-type", {"config.json": b'{"model_type": "no_such_arch"}'}, "bridge.model"),
    (
        "config-no-weights",
        {"config.json": b'{"model_type": "gpt2", "n_layer": 1, "n_head": 1, "n_embd": 8}'},
        "bridge.model",
    ),
    (
        "weights-garbage",
        {
            "config.json": b'{"model_type": "gpt2", "n_layer": 1, "n_head": 1, "n_embd": 8}',
            "model.safetensors": b"garbage",
        },
        "bridge.model",
    ),
    ("config-binary", {"config.json": b"\xff\xfe\x00"}, "bridge.model"),
]

#: (case, args, match): bad command-line values with valid inputs
ARGS = [
    ("workers-zero", ["prereg", "run", "{case}/study", "--workers", "0"], "--workers"),
    ("workers-many", ["prereg", "run", "{case}/study", "--workers", "100000"], "--workers"),
    (
        "max-memory-word",
        ["run", "{examples}/quickstart.toml", "--max-memory", "lots"],
        "--max-memory",
    ),
    ("max-memory-zero", ["run", "{examples}/quickstart.toml", "--max-memory", "0"], "--max-memory"),
    (
        "max-memory-tiny",
        ["run", "{examples}/quickstart.toml", "--max-memory", "1KB"],
        "needs about",
    ),
    ("out-is-file", ["run", "{examples}/quickstart.toml", "--out", "{case}/file.txt"], "--out"),
    ("out-not-empty", ["run", "{examples}/quickstart.toml", "--out", "{case}/full"], "--out"),
    ("set-unknown", ["run", "{examples}/quickstart.toml", "--set", "algo.nope=1"], "algo.nope"),
    ("set-malformed", ["run", "{examples}/quickstart.toml", "--set", "algo"], "--set"),
    ("config-missing", ["run", "{case}/nope.toml"], "nope.toml"),
    ("config-folder", ["run", "{case}"], "must be a readable file"),
    ("config-not-utf8", ["run", "{case}/latin1.toml"], "UTF-8"),
    ("config-deep", ["run", "{case}/deep.toml"], "deep.toml"),
    ("runs-per-unit", ["prereg", "run", "{case}/study", "--runs-per-unit", "0"], "--runs-per-unit"),
    (
        "sample-zero",
        ["prereg", "verify", "{case}/study", "--recompute", "--sample", "0"],
        "--sample",
    ),
    ("study-missing", ["prereg", "analyze", "{case}/nope"], "study"),
    ("amend-empty", ["prereg", "register", "{case}/study", "--amend", "  "], "--amend"),
    ("spec-not-utf8", ["prereg", "register", "{case}/latin"], "UTF-8"),
    ("spec-deep", ["prereg", "register", "{case}/deepspec"], "prereg.toml"),
]


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _case(
    kind: str, name: str, args: list[str], match: str, exit: int = 2, files: dict | None = None
) -> Path:
    """A case folder. `files` (name -> bytes) are stored hex-encoded in case.json and
    written by the test: bad Python stays out of the source tree (and out of ruff)."""
    d = HERE / kind / name
    d.mkdir(parents=True, exist_ok=True)
    case = {"args": args, "exit": exit, "match": match}
    if files:
        case["files"] = {k: v.hex() for k, v in files.items()}
    (d / "case.json").write_text(json.dumps(case, indent=1) + "\n")
    return d


def main() -> None:
    for kind in KINDS:
        shutil.rmtree(HERE / kind, ignore_errors=True)
    for name, old, new, match, *appended in CONFIGS:
        assert old in QUICK, name
        d = _case(
            "configs", name, ["run", "{case}/config.toml", "--out", "{case}/out", "--quiet"], match
        )
        text = QUICK.replace(old, new, 1)
        if appended:
            text = text.replace("passk = [1]", appended[0], 1)
        (d / "config.toml").write_text(text)
    for name, files, match in FEATURES:
        d = _case("features", name, ["run", "{case}/config.toml", "--engine", "reference",
                                     "--out", "{case}/out", "--quiet"], match, files=files)  # fmt: skip
        spec = next(iter(files), "nope.npy")  # no file: a missing one
        spec = "case/" + spec + (":build" if spec.endswith(".py") else "")
        (d / "config.toml").write_text(
            QUICK.replace("passk = [1]", P_LIN + f'features = "file"\nfeatures_file = "{spec}"')
        )
    for name, old, new, match in SPECS:
        assert old in SPEC, name
        text = SPEC.replace(old, new, 1)
        if name == "h-duplicate-id":
            text = SPEC + SPEC[SPEC.index("[[hypothesis]]") :]
        d = _case("specs", name, ["prereg", "register", "{case}/study"], match)
        (d / "study").mkdir()
        (d / "study" / "prereg.toml").write_text(text)
    good = dict(LOCK_BASE, spec_text=SPEC, spec_sha256=_sha(SPEC))
    for name, change, match in LOCKS:
        d = _case("locks", name, ["prereg", "analyze", "{case}/study"], match)
        (d / "study").mkdir()
        (d / "study" / "prereg.toml").write_text(SPEC)
        if callable(change):
            lock = json.loads(json.dumps(good))
            change(lock)
            data = json.dumps(lock, indent=1).encode()
        else:
            data = change if isinstance(change, bytes) else change.encode()
        (d / "study" / "prereg.lock.json").write_bytes(data)
    for name, source, fn, match in TASKS:
        data = source if isinstance(source, bytes) else source.encode()
        _case("tasks", name, ["run", "{examples}/custom_sequence.toml", "--task",
                              "{case}/task.py:" + fn, "--out", "{case}/out", "--quiet"], match,
              files={"task.py": data})  # fmt: skip
    for name, files, match in MODELS:
        d = _case("models", name, ["bridge", "run", "{examples}/bridge.toml", "--model",
                                   "{case}/model", "--out", "{case}/out"], match)  # fmt: skip
        (d / "model").mkdir()
        for fname, data in files.items():
            (d / "model" / fname).write_bytes(data)
    for name, args, match in ARGS:
        d = _case("args", name, args, match)
        (d / "study").mkdir()
        (d / "study" / "prereg.toml").write_text(SPEC)
        (d / "file.txt").write_text("a file\n")
        (d / "full").mkdir()
        (d / "full" / "keep.txt").write_text("keep\n")
        (d / "latin1.toml").write_bytes("[task]\n# caf\xe9\nkind = 'bandit'\n".encode("latin-1"))
        (d / "deep.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
        (d / "latin").mkdir()
        (d / "latin" / "prereg.toml").write_bytes("title = 'caf\xe9'\n".encode("latin-1"))
        (d / "deepspec").mkdir()
        (d / "deepspec" / "prereg.toml").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    n = sum(1 for _ in HERE.glob("*/*/case.json"))
    print(f"wrote {n} cases under {HERE}")


if __name__ == "__main__":
    main()
