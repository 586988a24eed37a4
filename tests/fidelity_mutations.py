"""Fidelity mutation check for FNO, G-FNO, the Galerkin Transformer, ST-FNO and scOT (issue 15).

Each mutation is a deliberate fidelity bug (the issue's list for these models, plus a few more). The script copies
the working tree (without .git and .venv) to a temporary folder, applies one mutation at a time there, runs the
tests that should catch it, and prints a markdown table (caught / not caught). The checkout itself is never edited.

    OMP_NUM_THREADS=1 .venv/bin/python tests/fidelity_mutations.py            # all
    OMP_NUM_THREADS=1 .venv/bin/python tests/fidelity_mutations.py st_fno     # names containing a word

The reference tests need the ``reference`` extra (``pip install -e .[reference]``); without it they skip and the
FNO / Galerkin mutations show as "not caught". The ST-FNO ones run on the stored fixture.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FNO = "tests/test_reference_equivalence_fno.py"
GAL = "tests/test_reference_equivalence_galerkin.py"
ST = "tests/test_reference_equivalence_st_fno.py"
FID = "tests/test_operator_fidelity.py"
POS = "tests/test_poseidon_reference.py"
FIX = "tests/test_reference_fixtures_fno_gfno.py"

# (kind, description, file, original text (must occur once), mutated text, test file)
MUTATIONS = [
    (
        "issue",
        "FNO: activation after the last Fourier layer",
        "specsolve/models/fno.py",
        "return self.act(x) if activate and i < len(self.spectral) - 1 else x",
        "return self.act(x) if activate else x",
        FNO,
    ),
    (
        "issue",
        "FNO: grid linspace(0,1,n+1)[:-1] (endpoint excluded)",
        "specsolve/models/fno.py",
        "torch.linspace(0.0, 1.0, n, device=like.device, dtype=like.dtype)",
        "torch.linspace(0.0, 1.0, n + 1, device=like.device, dtype=like.dtype)[:-1]",
        FNO,
    ),
    (
        "issue",
        "FNO: padding cropped at the wrong offset",
        "specsolve/models/fno.py",
        "x = x[(..., *[slice(0, n) for n in spatial])]",
        "x = x[(..., *[slice(self.padding, self.padding + n) for n in spatial])]",
        FNO,
    ),
    (
        "extra",
        "FNO: +/- mode blocks swapped (dft backend)",
        "specsolve/nn/spectral_conv.py",
        "return torch.cat([torch.arange(m), torch.arange(-m, 0)])",
        "return torch.cat([torch.arange(-m, 0), torch.arange(m)])",
        FNO,
    ),
    (
        "issue",
        "Galerkin: FFN GELU instead of ReLU",
        "specsolve/nn/galerkin.py",
        "hidden = self.dropout(torch.relu_(self.lr1(flat)))",
        "hidden = self.dropout(F.gelu(self.lr1(flat)))",
        GAL,
    ),
    (
        "issue",
        "Galerkin: no SiLU in the decoder's spectral layers",
        "specsolve/nn/galerkin.py",
        "return F.silu(self.spectral(self.dropout(x)) + self.linear(x))",
        "return self.spectral(self.dropout(x)) + self.linear(x)",
        GAL,
    ),
    (
        "extra",
        "Galerkin: pos appended after instead of before (Fourier attention)",
        "specsolve/nn/galerkin.py",
        "q, k, v = (torch.cat([p, t], dim=-1) for t in (q, k, v))",
        "q, k, v = (torch.cat([t, p], dim=-1) for t in (q, k, v))",
        GAL,
    ),
    (
        "extra",
        "Galerkin: pos appended after instead of before (Galerkin attention)",
        "specsolve/nn/galerkin.py",
        "kv = torch.cat([torch.cat([pp, pv], dim=-1), torch.cat([kp, kv], dim=-1)], dim=-2)\n"
        "        kv = self.attention_dropout(kv / n)  # (B, h, p + d_k, p + d_k)\n"
        "        m = torch.matmul(kv, self.fc.weight.view(-1, h, pd + d_k).permute(1, 2, 0))  # (B, h, p + d_k, d)\n"
        "        m_q, m_p = m[:, :, pd:].reshape(batch, h * d_k, -1), m[:, :, :pd].sum(1)",
        "kv = torch.cat([torch.cat([kv, kp], dim=-1), torch.cat([pv, pp], dim=-1)], dim=-2)\n"
        "        kv = self.attention_dropout(kv / n)  # (B, h, p + d_k, p + d_k)\n"
        "        m = torch.matmul(kv, self.fc.weight.view(-1, h, pd + d_k).permute(1, 2, 0))  # (B, h, p + d_k, d)\n"
        "        m_q, m_p = m[:, :, :d_k].reshape(batch, h * d_k, -1), m[:, :, d_k:].sum(1)",
        GAL,
    ),
    (
        "extra",
        "Galerkin: extra 1/sqrt(d_k) in Galerkin attention",
        "specsolve/nn/galerkin.py",
        "kv = self.attention_dropout(kv / n)",
        "kv = self.attention_dropout(kv / n / math.sqrt(self.d_k))",
        GAL,
    ),
    (
        "extra",
        "Galerkin: Dirichlet zero boundary dropped",
        "specsolve/models/galerkin_transformer.py",
        "out = torch.nn.functional.pad(out[:, 1:-1, 1:-1], (0, 0, 1, 1, 1, 1))",
        "out = out",
        GAL,
    ),
    (
        "issue",
        "ST-FNO: no temporal padding in the output operator",
        "specsolve/models/st_fno.py",
        "v = self.output_conv(v, out_steps=out_steps + 1, temporal_padding=True)",
        "v = self.output_conv(v, out_steps=out_steps + 1, temporal_padding=False)",
        ST,
    ),
    (
        "issue",
        "ST-FNO: no activation after the last block",
        "specsolve/models/st_fno.py",
        "return self.activation(self.ffns[i](self.spectral_convs[i](v)) + self.pointwise[i](v))",
        "y = self.ffns[i](self.spectral_convs[i](v)) + self.pointwise[i](v)\n"
        "        return y if i == len(self.spectral_convs) - 1 else self.activation(y)",
        ST,
    ),
    (
        "issue",
        "ST-FNO: spectral bias multiplied by 0",
        "specsolve/nn/spacetime.py",
        "block = block + self.delta * b",
        "block = block + 0.0 * self.delta * b",
        ST,
    ),
    (
        "issue",
        "ST-FNO: lifting skip from the first time slice",
        "specsolve/models/st_fno.py",
        "return self.activation(v[..., -1:] + w)",
        "return self.activation(v[..., :1] + w)",
        ST,
    ),
    (
        "extra",
        "ST-FNO: last input frame not added (no residual in time)",
        "specsolve/models/st_fno.py",
        "return last + v[..., -out_steps:]",
        "return v[..., -out_steps:]",
        ST,
    ),
    (
        "extra",
        "ST-FNO: PE time grid linspace[0:nt] instead of [1:nt+1]",
        "specsolve/nn/spacetime.py",
        "gt = torch.linspace(0, 1, max_steps + 1, dtype=dtype, device=device)[1 : nt + 1]",
        "gt = torch.linspace(0, 1, max_steps + 1, dtype=dtype, device=device)[0:nt]",
        ST,
    ),
    (
        "model-level",
        "FNO grid endpoint excluded",
        "specsolve/models/fno.py",
        "torch.linspace(0.0, 1.0, n, device=like.device, dtype=like.dtype)",
        "torch.linspace(0.0, 1.0, n + 1, device=like.device, dtype=like.dtype)[:-1]",
        FID,
    ),
    (
        "model-level",
        "FNO spectral conv norm ortho-like N-dependence (x sqrt(N))",
        "specsolve/nn/spectral_conv.py",
        "return truncated_irfftn(mixed, self.modes, spatial)",
        "return truncated_irfftn(mixed, self.modes, spatial) * math.sqrt(math.prod(spatial)) / 32",
        FID,
    ),
    (
        "model-level",
        "G-FNO symmetric grid off-centre (x-0.4)",
        "specsolve/models/gfno.py",
        "r2 = (y[:, None] - 0.5) ** 2 + (x[None, :] - 0.5) ** 2",
        "r2 = (y[:, None] - 0.4) ** 2 + (x[None, :] - 0.5) ** 2",
        FID,
    ),
    (
        "model-level",
        "ST-FNO forward bias: spatial factor missing",
        "specsolve/nn/spacetime.py",
        "b = b * (nx * ny * n_out)",
        "b = b * n_out",
        FID,
    ),
    (
        "model-level",
        "ST-FNO horizon instants wrong (T'/T)",
        "specsolve/models/st_fno.py",
        "times = (n_out - trained - 1) + j * (trained / out_steps)",
        "times = (n_out - trained - 1) + j",
        FID,
    ),
    (
        "model-level",
        "ST-FNO bias zeroed",
        "specsolve/nn/spacetime.py",
        "block = block + self.delta * b",
        "block = block + 0.0 * self.delta * b",
        FID,
    ),
    (
        "model-level",
        "spectral_refine: norm_convention ignored (always H^-1)",
        "specsolve/training/spectral_refinement.py",
        "    order = effective_order(-1.0, norm_convention)",
        "    order = -1.0",
        FID,
    ),
    (
        "issue",
        "scOT: a pre-norm before attention (res-post-norm broken)",
        "specsolve/nn/swin.py",
        "        y = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2)) if shift else x\n",
        "        y = self.norm_attention(x, t)\n        y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2)) if shift else y\n",
        POS,
    ),
    (
        "issue",
        "scOT: CPB position bias removed",
        "specsolve/nn/swin.py",
        "        table = 16.0 * torch.sigmoid(torch.mm(second.weight, hidden))",
        "        table = 0.0 * torch.sigmoid(torch.mm(second.weight, hidden))",
        POS,
    ),
    (
        "issue",
        "scOT: stage residual before merging removed",
        "specsolve/models/scot.py",
        "h = self.merges[i](h + stage_input, tt)",
        "h = self.merges[i](h, tt)",
        POS,
    ),
    (
        "issue",
        "scOT: skip including the stage input",
        "specsolve/models/scot.py",
        "skips.append(h)",
        "skips.append(h + stage_input)",
        POS,
    ),
    (
        "issue",
        "scOT: decoder shift order swapped",
        "specsolve/models/scot.py",
        "block(i, (depths[i] - 1 - b) % 2 == 1, dec_rates[start + b])",
        "block(i, b % 2 == 1, dec_rates[start + b])",
        POS,
    ),
    (
        "extra",
        "G-FNO: kernel copies not rotated/reflected (official code, fixture)",
        "specsolve/models/gfno.py",
        "copies = [transform(base[:, :, self.perm[g]], g, (-2, -1)) for g in range(self.order)]",
        "copies = [base[:, :, self.perm[g]] for g in range(self.order)]",
        FIX,
    ),
    (
        "extra",
        "G-FNO: symmetric grid off-centre (official code, fixture)",
        "specsolve/models/gfno.py",
        "r2 = (y[:, None] - 0.5) ** 2 + (x[None, :] - 0.5) ** 2",
        "r2 = (y[:, None] - 0.4) ** 2 + (x[None, :] - 0.5) ** 2",
        FIX,
    ),
    (
        "extra",
        "FNO: activation after the last layer (original code, fixture)",
        "specsolve/models/fno.py",
        "return self.act(x) if activate and i < len(self.spectral) - 1 else x",
        "return self.act(x) if activate else x",
        FIX,
    ),
]


def main(words: list[str]) -> int:
    selected = [m for m in MUTATIONS if not words or any(w.lower() in m[1].lower() for w in words)]
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.h5"))
        env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1")
        env.pop("SPECSOLVE_TORCH_CFD", None)  # the ST-FNO mutations are checked on the stored fixture
        print("| kind | mutation | tests | result |\n|---|---|---|---|")
        for kind, what, path, old, new, test in selected:
            target = root / path
            original = target.read_text()
            if original.count(old) != 1:
                print(f"| {kind} | {what} | {Path(test).name} | SKIPPED: code changed, mutation does not apply |")
                continue
            target.write_text(original.replace(old, new))
            try:
                run = subprocess.run(
                    [python, "-m", "pytest", "-q", test, "-p", "no:randomly", "-p", "no:cacheprovider"],
                    cwd=root,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
            finally:
                target.write_text(original)
            summary = [line for line in run.stdout.splitlines() if " passed" in line or " failed" in line]
            verdict = "CAUGHT" if run.returncode else "not caught"
            print(f"| {kind} | {what} | {Path(test).name} | {verdict}: {summary[-1] if summary else run.returncode} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
