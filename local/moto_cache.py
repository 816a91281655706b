"""Makes the embedded store (moto's DynamoDB) answer the counter's writes in about half the time.

moto parses every UpdateExpression from its text twice per UpdateItem, deep-copies the parsed tree before
validating it, and rebuilds each validator's table of node types for every node it visits: over half of
what one counted hit costs `make dev` and the tests. ``install()`` keeps moto's own code and its answers,
and only stops redoing identical work:
- a parsed expression is kept by its text (the parser is a pure function of it; callers only read the
  tree: the validator works on its own copy);
- that copy comes from the tree pickled once, which rebuilds exactly what ``deepcopy`` would, parent
  links included, five times faster;
- each validator keeps its table of node types for the walk it is making.
Only for the moto release it was written against (requirements-dev.txt pins it); any other is left as is.
"""

from __future__ import annotations

import copy
import importlib
import pickle
import threading
from typing import Any, cast

MOTO_VERSION = "5.2.5"
MAX_EXPRESSIONS = 4096  # distinct expression texts kept; beyond that, parsed afresh as moto does

_lock = threading.Lock()
_installed = False


def install() -> bool:
    """Idempotent. True when moto's DynamoDB now caches, False when this moto is not the one it knows."""
    global _installed
    import moto

    if moto.__version__ != MOTO_VERSION:
        return False
    with _lock:
        if not _installed:
            _patch()
            _installed = True
    return True


def _patch() -> None:
    # moto's parsing modules as untyped: their internals are what is patched here.
    ast_nodes, expressions, validators = (cast(Any, importlib.import_module(f"moto.dynamodb.parsing.{name}"))
                                          for name in ("ast_nodes", "expressions", "validators"))
    parser: Any = expressions.UpdateExpressionParser
    traverser: Any = ast_nodes.DepthFirstTraverser
    parse = parser.make.__func__
    trees: dict[str, Any] = {}  # expression text -> its parsed tree, kept alive so its id stays its own
    pickled: dict[int, bytes] = {}  # id of a kept tree -> that tree, pickled

    def make(cls: type, expression_str: str) -> Any:
        tree = trees.get(expression_str)
        if tree is None:
            tree = parse(cls, expression_str)
            if len(trees) < MAX_EXPRESSIONS:
                pickled[id(tree)] = pickle.dumps(tree, pickle.HIGHEST_PROTOCOL)
                trees[expression_str] = tree
        return tree

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        frozen = pickled.get(id(value)) if memo is None else None
        return pickle.loads(frozen) if frozen is not None else copy.deepcopy(value, memo)

    node_types = traverser.nodes_to_be_processed

    def nodes_to_be_processed(self: Any) -> Any:
        found = self.__dict__.get("_cached_node_types")
        if found is None:
            found = self.__dict__["_cached_node_types"] = node_types(self)
        return found

    def process(self: Any, node: Any) -> Any:
        table = self.__dict__.get("_cached_processing_map")
        if table is None:
            table = self.__dict__["_cached_processing_map"] = tuple(self._processing_map().items())
        for class_key, processor in table:
            if isinstance(node, class_key):
                return processor(node)
        return None

    parser.make = classmethod(make)
    validators.deepcopy = deepcopy
    traverser.nodes_to_be_processed = nodes_to_be_processed
    traverser.process = process
