"""Print the model card of a Promethium checkpoint (Markdown, or JSON with --json).

    python scripts/model_card.py outputs/train/RUN/checkpoints/best.ckpt
    python scripts/model_card.py best.ckpt --json > card.json
    python scripts/model_card.py pretrained:marmousi_interp     # a shipped model
    python scripts/model_card.py models:/NAME/1                 # a registered MLflow model

The card (what the network is, the data it was trained on and their amplitudes after
the contract, what it scored, the command that trained it) is read weights-only, without
Lightning. Checkpoints written before cards existed get one from their training config
(``migrated_from: 0``). Errors name the file and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from promethium.errors import PromethiumError
from promethium.ml.model_card import card_markdown, read_card
from promethium.tasks.common import resolve_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "checkpoint", help="a .ckpt written by task=train, pretrained:NAME[@V] or models:/NAME/V"
    )
    parser.add_argument("--json", action="store_true", help="the card as JSON")
    args = parser.parse_args(argv)
    try:
        path = resolve_checkpoint(args.checkpoint)
        card = read_card(path)
    except PromethiumError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(card, indent=2))
    else:
        print(
            card_markdown(
                card,
                title=f"Model card: {args.checkpoint if ':' in args.checkpoint else path.name}",
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
