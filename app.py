"""Start the chat web UI: ``python app.py [--index DIR] [--host H] [--port P]``.

Binds 127.0.0.1:7860 unless told otherwise. Set RAG_UI_AUTH=user:pass to require a login, and
RAG_MAX_UPLOAD_MB to change the upload size limit. The index must exist: ``make run`` builds it
from corpus/ and starts this UI; ``rag index build corpus/ --index index`` builds it alone.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="AI-policy research assistant: chat web UI.")
    parser.add_argument("--index", type=Path, default=Path(os.environ.get("RAG_INDEX") or "index"),
                        help="index directory (default: $RAG_INDEX or ./index)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    args = parser.parse_args(argv)

    from rag.errors import IndexMissingError, RagError
    from rag.store import current_version

    try:
        current_version(args.index)
    except IndexMissingError as e:
        print(f"error: {e} (or run `make run`, which builds the index of corpus/ and starts this UI)",
              file=sys.stderr)
        return 2
    from rag.ui import serve

    try:
        print(f"AI-policy research assistant on http://{args.host}:{args.port} (index: {args.index})", flush=True)
        serve(index_dir=args.index, host=args.host, port=args.port)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # port taken, address not available
        print(f"error: cannot serve on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
