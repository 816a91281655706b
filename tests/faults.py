"""Fault injection into a real botocore client, below its retry layer, and a log of what reached DynamoDB."""

from __future__ import annotations

from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

THROTTLE = "ThrottlingException"


class Faults:
    """Wraps a client: ``sent`` counts HTTP requests per operation; faults are queued per operation.

    - ``throttle(op, n, code)``: the next n calls answer 400 ThrottlingException (or ``code``) and apply nothing.
    - ``lose_response(op, n)``: the next n requests are applied by the store, then the response is
      lost (ReadTimeoutError) -- the case botocore's own retries would double count.
    - ``refuse(op, n)``: the next n connections are refused (nothing sent).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sent: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._throttle: Counter[str] = Counter()
        self._lose: Counter[str] = Counter()
        self._refuse: Counter[str] = Counter()
        self.throttle_code = THROTTLE  # the error code a throttled call answers with
        events = client.meta.events
        events.register_first("before-send.dynamodb", self._before_send_first)
        # Registered on the generic event, last, so that it runs after moto has applied the request.
        events.register_last("before-send", self._after_store)
        events.register_first("before-call.dynamodb", self._before_call)

    def __call__(self) -> Any:
        """Acts as the handlers' client factory."""
        return self.client

    def throttle(self, operation: str, times: int, code: str = THROTTLE) -> None:
        self._throttle[operation] += times
        self.throttle_code = code

    def lose_response(self, operation: str, times: int) -> None:
        self._lose[operation] += times

    def refuse(self, operation: str, times: int) -> None:
        self._refuse[operation] += times

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.sent.items() if op in ("UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem"))

    def _before_call(self, model: Any, **_: Any) -> Any:
        if self._throttle[model.name] > 0:
            self._throttle[model.name] -= 1
            self.throttled[model.name] += 1
            http = AWSResponse("https://dynamodb.local", 400, {}, None)
            parsed = {
                "Error": {"Code": self.throttle_code, "Message": "Rate of requests exceeds the allowed throughput."},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            return http, parsed
        return None

    def _before_send_first(self, request: Any, **_: Any) -> None:
        operation = _operation(request)
        if self._refuse[operation] > 0:
            self._refuse[operation] -= 1
            raise EndpointConnectionError(endpoint_url=request.url)
        self.sent[operation] += 1

    def _after_store(self, request: Any, **_: Any) -> None:
        # Runs after moto's before-send handler has applied the request: drop the answer.
        operation = _operation(request)
        if self._lose[operation] > 0:
            self._lose[operation] -= 1
            raise ReadTimeoutError(endpoint_url=request.url)


def _operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else target
    return target.rpartition(".")[2]
