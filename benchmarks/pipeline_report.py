"""Table of a finished pipeline run: samples per type per net, epochs, wall time per step, stage recall,
final WIDER FACE AP and landmark NME next to the original weights' figures.

    python benchmarks/pipeline_report.py runs/full [--reference runs/eval_reference_mf20]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _load(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--reference", type=Path, help="eval folder of the original weights (wider_ap.json, landmarks.json)")
    args = ap.parse_args()
    steps = {p.stem: _load(p) for p in sorted((args.run / "steps").glob("*.json"))}
    print("| step | wall time | what it produced |")
    print("|---|---|---|")
    data = steps.get("data", {}).get("summary", {})
    if data:
        c = data["pnet_counts"]
        lm = data["landmark_counts"]
        print(f"| data | {steps['data']['seconds']:.0f} s | PNet record: {c['pos']:,} pos, {c['part']:,} part, "
              f"{c['neg']:,} neg, {c['landmark']:,} landmark; 24/48 px landmark records: "
              f"{lm['24']['landmark']:,} each |")
    for net in ("pnet", "rnet", "onet"):
        mine = steps.get(f"mine_{net}", {})
        if mine:
            s = mine["summary"]
            c = s["counts"]
            print(f"| mine for {net.upper()[0]}Net | {mine['seconds']:.0f} s | {c['pos']:,} pos, {c['part']:,} part, "
                  f"{c['neg']:,} neg ({s['windows_per_image']:.0f} windows/image); faces >= 20 px covered at IoU 0.5: "
                  f"train {s['train_recall']:.3f}, val {s['val_recall']['recall']:.3f} |")
        tr = steps.get(f"train_{net}", {})
        if tr:
            s = tr["summary"]
            last = s["last"]
            cfg = s["config"]
            steps_txt = f"{cfg['steps_per_epoch']} steps each" if cfg.get("steps_per_epoch") else "full passes"
            print(f"| train {net[0].upper()}Net | {tr['seconds']:.0f} s | {s['epochs']} epochs ({steps_txt}, batch "
                  f"{cfg['batch_size']}, {cfg['optimizer']} lr {cfg['lr']}); val accuracy {last['val_acc']:.3f}, "
                  f"recall at {cfg['recall_threshold']} {last['val_recall']:.3f} |")
    ev = steps.get("evaluate", {}).get("summary")
    if ev:
        print(f"| evaluate | {steps['evaluate']['seconds']:.0f} s | see below |")
        ours = ev["wider"]["ap"]
        print()
        print("| weights | easy AP | medium AP | hard AP | landmark NME (held-out faces) |")
        print("|---|---|---|---|---|")
        if args.reference:
            ref = _load(args.reference / "wider_ap.json")["ap"]
            lm = _load(args.reference / "landmarks.json")
            print(f"| original MTCNN | {ref['easy']:.3f} | {ref['medium']:.3f} | {ref['hard']:.3f} | "
                  f"{100 * lm['nme']:.2f} % |")
        nme = ev.get("landmarks", {}).get("nme")
        print(f"| ours, from scratch | {ours['easy']:.3f} | {ours['medium']:.3f} | {ours['hard']:.3f} | "
              + (f"{100 * nme:.2f} % |" if nme is not None else "- |"))
        if args.reference:
            print(f"| ours / original | {ours['easy'] / ref['easy']:.2f} | {ours['medium'] / ref['medium']:.2f} | "
                  f"{ours['hard'] / ref['hard']:.2f} | |")
    total = sum(s["seconds"] for s in steps.values())
    print(f"\nTotal wall time: {total / 60:.0f} min")


if __name__ == "__main__":
    main()
