"""``semipose models``: the known model names, where each comes from and whether it is cached;
``fetch`` fills the cache; ``--remote`` lists a hub repository's checkpoint files."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError


def register(sub: Any) -> None:
    mo = sub.add_parser(
        "models", help="the known models and backbones (source, cache); fetch one into the cache; list a hub repository",
        description="Model sources: every option that takes a model or weights file (predict, eval --checkpoint, export, "
        "model.pretrained, model.init_weights, PoseEstimator.from_file) also takes an http(s) URL, hf://OWNER/REPO/PATH[@REV] "
        "or a name listed here; downloads are cached in $SEMIPOSE_CACHE, else torch.hub's $TORCH_HOME/hub/checkpoints.",
    )
    mo.add_argument("action", nargs="?", choices=["list", "fetch"], default="list",
                    help="list (default): the known names; fetch: download NAME into the cache (then copy the cache to a machine without a network)")
    mo.add_argument("name", nargs="*", help="fetch: names, URLs or hf:// paths")
    mo.add_argument("--remote", help="list the checkpoint files of a hub repository: hf://OWNER/REPO[@REVISION]")
    mo.add_argument("--no-progress", action="store_true")
    mo.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from ..hub import KNOWN_MODELS, cache_dir, cached_path, list_hf_repo, resolve_source

    if args.remote:
        files = list_hf_repo(args.remote)
        repo = args.remote.removeprefix("hf://").split("@")[0].strip("/")
        print(f"{len(files)} checkpoint file(s) in {args.remote}:" if files else f"{args.remote}: no checkpoint files")
        for f in files:
            print(f"  hf://{repo}/{f}")
        return 0
    if args.action == "fetch":
        if not args.name:
            raise ConfigError("semipose models fetch needs NAME (a name below, a URL or an hf:// path)")
        for spec in args.name:
            print(f"{spec}: {resolve_source(spec, progress=not args.no_progress)}")
        return 0
    if args.name:
        raise ConfigError("semipose models: names are for `semipose models fetch NAME`")
    print(f"cache: {cache_dir()}  (SEMIPOSE_CACHE, else $TORCH_HOME/hub/checkpoints; hf:// files use the Hugging Face cache)\n")
    rows = [("name", "what", "cache", "source"), *((name, m.what, "cached" if cached_path(m.url).is_file() else "not cached", m.url)
                                                   for name, m in KNOWN_MODELS.items())]
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    for r in rows:
        print("  ".join(f"{cell:<{w}}" for cell, w in zip(r[:3], widths)) + f"  {r[3]}")
    sources = sorted({m.source for m in KNOWN_MODELS.values()})
    print("\nsources: " + "; ".join(sources))
    print("model.pretrained: imagenet picks the architecture's backbone; `semipose models fetch NAME` fills the cache; "
          "`semipose models --remote hf://OWNER/REPO` lists a hub repository (e.g. hf://HoyerChou/MultiAugs, MultiAugs' released models).")
    return 0
