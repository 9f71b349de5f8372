"""One orientation vs the mean over the 8 flips/transposes (``--tta``), on the same models.

    python benchmarks/tta_views.py RUN_DIR [--cube FILE --labels FILE] [--device cpu]

RUN_DIR is the output of ``napari-ssdgl reproduce ... --save-models`` (``seed_<s>/model`` and
``seed_<s>/metrics.json``). For every seed the saved model predicts the scene once as it is and
once over the 8 views; both maps are scored on that seed's test pixels (the protocol's split,
training pixels left out). Prints one JSON document with the per-seed OA and the means.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from napari_ssdgl.analysis.metrics import classification_metrics
from napari_ssdgl.prediction.modelfile import load_classifier
from napari_ssdgl.workflows.protocols import get_protocol
from napari_ssdgl.workflows.reproduce import load_scene_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--cube", help="scene file (default: the run's sample scene)")
    ap.add_argument("--labels", help="ground-truth file, with --cube")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    seeds = sorted(Path(args.run_dir).glob("seed_*/metrics.json"),
                   key=lambda p: int(p.parent.name.split("_")[1]))
    if not seeds:
        raise SystemExit(f"{args.run_dir}: no seed_<s>/metrics.json (a reproduce output?)")
    first = json.loads(seeds[0].read_text())
    protocol = get_protocol(first["protocol"])
    data = load_scene_data(args.cube or first["scene"], args.labels, protocol)
    rows = []
    for path in seeds:
        m = json.loads(path.read_text())
        clf = load_classifier(path.parent / "model")
        train, test = protocol.split_labels(data.gt.data, m["seed"])
        oa = {}
        for name, tta in (("one_view", False), ("tta", True)):
            labels = clf.predict(data.cube.data, device=args.device, tta=tta).labels
            oa[name] = 100 * classification_metrics(labels, test, exclude=train > 0,
                                                    class_values=clf.class_values)["oa"]
        rows.append({"seed": m["seed"], "augment": m.get("augment"), "oa_one_view": oa["one_view"],
                     "oa_tta": oa["tta"], "reported_oa": 100 * m["oa"]})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("oa_one_view", "oa_tta")}
    print(json.dumps({"run_dir": args.run_dir, "protocol": protocol.key, "seeds": rows,
                      "mean": mean}, indent=2))


if __name__ == "__main__":
    main()
