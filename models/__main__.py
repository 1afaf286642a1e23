"""``python -m models {classify,train,evaluate}``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from models.cli import run_classify, run_evaluate, run_train
from pipeline.settings import Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_cls = sub.add_parser("classify", help="classify JSON lines {id,text,lang?}")
    p_cls.add_argument("--input", type=Path, help="input file (default stdin)")
    p_cls.add_argument("--output", type=Path, help="output file (default stdout)")
    p_cls.add_argument("--model", type=Path, default=settings.model_path)
    p_train = sub.add_parser("train", help="train the classifier artifact")
    p_train.add_argument("--data-dir", type=Path, default=settings.data_dir)
    p_train.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "artifacts")
    p_train.add_argument("--source-cv", action="store_true", help="add leave-one-source-out")
    p_eval = sub.add_parser("evaluate", help="score a classifier on the held-out dev sets")
    p_eval.add_argument("--data-dir", type=Path, default=settings.data_dir)
    p_eval.add_argument("--model", type=Path, default=settings.model_path)
    p_eval.add_argument("--labelled", type=Path, help="labelled JSON lines to score instead")
    p_eval.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "classify":
        fin = args.input.open(encoding="utf-8") if args.input else sys.stdin
        fout = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
        try:
            return run_classify(fin, fout, args.model)
        finally:
            if args.input:
                fin.close()
            if args.output:
                fout.close()
    if args.command == "train":
        return run_train(args.data_dir, args.out_dir, source_cv=args.source_cv)
    return run_evaluate(args.data_dir, args.model, args.labelled, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
