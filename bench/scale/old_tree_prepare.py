"""Prepare the baseline's register with the *old* code's own functions (bench/scale's baseline round).

Run as a script by ``bench.scale`` with ``PYTHONPATH`` set to a checkout of the baseline commit and that checkout
as the working folder, so every ``assay`` and ``bench`` import below is the old tree's (the script refuses to
run otherwise). It loads the same generated register (``bench.register.data.load``, the same seed and sizes),
publishes the example image generator, marks the first half of the given JPEGs through the old
``mark_images`` and integrates the log, as bench/scale's ``prepare_register`` does with the current code.

    python bench/scale/old_tree_prepare.py '{"tree": ..., "url": ..., "data_dir": ..., "systems": 5000,
                                             "images_dir": ...}'

It imports nothing from the current tree: this file sits in ``bench/scale/``, which is ``sys.path[0]`` when it
runs, and holds no ``assay`` or ``bench`` package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    args = json.loads(sys.argv[1])
    tree = Path(args["tree"]).resolve()
    import assay
    import bench

    for module in (assay, bench):
        where = Path(module.__file__ or "").resolve()
        if not where.is_relative_to(tree):
            sys.exit(f"{module.__name__} was imported from {where}, not from the baseline tree {tree}")

    import yaml

    from assay.config import Config
    from assay.db import Database
    from assay.provenance.environment import ProvenanceEnv
    from assay.provenance.marking import mark_images
    from assay.register import service
    from assay.register.access import Principal
    from assay.transparency import integrate
    from bench.register.data import load

    systems = int(args["systems"])
    db = Database(args["url"])
    db.upgrade()
    load(db, systems=systems, n_providers=max(1, systems // 20))
    operator = Principal.local_operator()
    doc = yaml.safe_load((tree / "assay" / "register" / "examples" / "acme-imagegen.yaml").read_text())
    doc["provider"]["id"] = "acme-bench"  # the generated register may already hold an 'acme'
    with db.write() as s:
        service.add_provider(s, id="acme-bench", name="Acme Imaging B.V.", jurisdiction="NL", principal=operator)
        service.publish(s, doc, principal=operator, provider_id="acme-bench")
    config = Config(data_dir=Path(args["data_dir"]), database_url=args["url"], public_url="http://bench.example")
    env = ProvenanceEnv.open(config)
    images_dir = Path(args["images_dir"])
    originals = [p.read_bytes() for p in sorted(images_dir.glob("original-*.jpg"))]
    half = len(originals) // 2
    marked = mark_images(db, env, images=originals[:half], system_id=doc["system"]["id"], principal=operator)
    for i, m in enumerate(marked):
        (images_dir / f"marked-by-baseline-{i}.jpg").write_bytes(m.data)
    integrate(db, config)
    db.dispose()
    print(json.dumps({"assay": str(Path(assay.__file__ or "").parent), "marked": len(marked)}))


if __name__ == "__main__":
    main()
