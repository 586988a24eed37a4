"""The reference-equivalence table: max |ours - reference| / max |reference| per model x reference x configuration,
in float64 and float32 (the tests assert <= 1e-10 and <= 1e-5).

    OMP_NUM_THREADS=1 SPECSOLVE_TORCH_CFD=/path/to/torch-cfd .venv/bin/python tests/reference_table.py

Needs the ``reference`` extra; without ``SPECSOLVE_TORCH_CFD`` the ST-FNO rows come from the stored fixture. The
original FNO scripts, the official G-FNO and Poseidon's scOT come from their stored fixtures (CONTRIBUTING.md,
"Reference fixtures"); Poseidon's float32 output exists for the tiny cases only (T: fp32 ours vs its fp64 output).
"""

import os
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # reproductions/ (the fixture maps)
import st_fno_reference as TS
import test_reference_equivalence_fno as TF
import test_reference_equivalence_galerkin as TG


class MP:  # minimal monkeypatch
    def __init__(self):
        self.undo = []

    def setattr(self, obj, name, value):
        self.undo.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    def restore(self):
        for o, n, v in reversed(self.undo):
            setattr(o, n, v)
        self.undo = []


rows = []
for cfg in TF.CONFIGS + TF.PADDED:
    r = []
    for dtype in (torch.float64, torch.float32):
        mp = MP()
        TF.reference_fixes.__wrapped__(mp, dtype)
        ours, ref, x = TF.build(cfg, dtype)
        with torch.no_grad():
            exp = TF.reference_with_right_pad(ref, x, cfg[-1]) if cfg[-1] else ref(TF.with_grid(x))
            r.append(TF.rel_diff(ours(x), exp))
        mp.restore()
    rows.append(("FNO", "neuraloperator 2.0.0" + (" blocks + right pad" if cfg[-1] else ""), cfg[0], *r))
shim = types.SimpleNamespace(**{n: getattr(F, n) for n in dir(F) if n[:2] != "__"})
shim.dropout = lambda x, *a, **k: x
orig = TG.gt_layers.F
TG.gt_layers.F = shim
for case in TG.CASES:
    r = []
    for dtype in (torch.float64, torch.float32):
        torch.set_default_dtype(dtype)
        ours, ref, x = TG.build(case, dtype, reference_fourier_scaling=case[1]["attention_type"] == "fourier")
        with torch.no_grad():
            r.append(TG.rel_diff(ours(x), TG.run_reference(ref, x, case[3])))
        torch.set_default_dtype(torch.float32)
    rows.append(("Galerkin Transformer", "galerkin-transformer 0.2.1", case[0], *r))
TG.gt_layers.F = orig
if os.environ.get(TS.ENV):
    cls = TS.reference_sfno_class(os.environ[TS.ENV])
    for name, (config, shape, out_steps) in {**TS.FIXTURE_CASES, **TS.PAPER_CASES}.items():
        r = []
        for dtype in (torch.float64, torch.float32):
            m = TS.build_ours(config).to(dtype)
            x = TS.make_input(shape).to(dtype)
            exp = TS.reference_output(cls, config, m.state_dict(), x, out_steps)
            with torch.no_grad():
                r.append(TF.rel_diff(m(x, out_steps=out_steps), exp))
        rows.append(("ST-FNO", "torch-cfd fno/sfno.py (live)", name, *r))
else:
    from specsolve.models.st_fno import STFNO

    stored = torch.load(TS.FIXTURE, weights_only=True)
    for name, (config, _, _) in TS.FIXTURE_CASES.items():
        case, r = stored[name], []
        for dtype, key in ((torch.float64, "reference_fp64"), (torch.float32, "reference_fp32")):
            m = STFNO(1, 1, **config).to(dtype)
            m.load_state_dict({k: v.to(dtype) for k, v in case["state_dict"].items()})
            with torch.no_grad():
                got = m(case["input"].to(dtype), out_steps=int(case["out_steps"]))
            r.append(TF.rel_diff(got, case[key].to(dtype)))
        rows.append(("ST-FNO", "torch-cfd fno/sfno.py (stored fixture)", name, *r))
import tempfile  # noqa: E402

import test_poseidon_reference as TP  # noqa: E402
import test_reference_fixtures_fno_gfno as TX  # noqa: E402

from specsolve.models.poseidon_checkpoint import load_poseidon_checkpoint  # noqa: E402

for name in TX.R.FNO_CASES:
    r = [TX.R.relative_difference(TX.fno_output(name, d), TX.reference(TX.FNO[name], d)) for d in TX.DTYPES]
    rows.append(("FNO", "original fourier_2d.py / fourier_3d.py (stored fixture)", name, *r))
for name in TX.R.GFNO_CASES:
    r = [TX.R.relative_difference(TX.gfno_output(name, d), TX.reference(TX.GFNO[name], d)) for d in TX.DTYPES]
    rows.append(("G-FNO", "official GFNO2d / GFNO3d (stored fixture)", name, *r))
with tempfile.TemporaryDirectory() as tmp:
    cases = {name: (case, case["weights"]) for name, case in TP.TINY.items()}
    t_case = torch.load(TP.DATA / "poseidon_reference_t.pt", weights_only=True)
    t_state = {n: TP.deterministic_tensor(n, tuple(s)) for n, s in zip(t_case["names"], t_case["shapes"])}
    cases["poseidon_t_128"] = (t_case, t_state)
    for name, (case, state) in cases.items():
        model = load_poseidon_checkpoint(TP.write_checkpoint(Path(tmp) / name, case["config_json"], state))
        for key in case["outputs64"]:
            x, t = TP.inputs(case, key)
            with torch.no_grad():
                out32 = model.float()(x.float(), t.float())
                out64 = model.double()(x, t)
            ref32 = case.get("outputs32", case["outputs64"])[key]
            r = [TP.relative_error(out64, case["outputs64"][key]), TP.relative_error(out32, ref32)]
            rows.append(("scOT", "Poseidon scOT/model.py (stored fixture)", f"{name} {key}", *r))
print("| model | reference | config | fp64 | fp32 |\n|---|---|---|---|---|")
for row in rows:
    print("| {} | {} | {} | {:.1e} | {:.1e} |".format(*row))
