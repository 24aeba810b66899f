"""engine/packing.pack packs each distinct (config object, layout) once and repeats its
rows: the arrays must equal packing every run on its own."""

from __future__ import annotations

import numpy as np

from simrl.config import Config
from simrl.engine.packing import _pack, pack
from simrl.engine.streams import stream_layout


def test_pack_of_shared_configs_is_the_per_run_pack():
    a = Config.from_dict({"algo": {"group_size": 4}})
    b = Config.from_dict({"algo": {"group_size": 6, "loss": "cispo"}, "optim": {"kind": "adam"}})
    c = Config.from_dict({"algo": {"group_size": 4}})  # equal to a, another object
    configs = [a, b, a, c, b, a]
    layouts = [stream_layout(x) for x in configs]
    for got, want in zip(pack(configs, layouts), _pack(configs, layouts), strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
