"""Our SigV4 signature against botocore's SigV4Auth: same request, credentials, token and time, over
generated inputs (Unicode routes, long bodies, every header the lean writer sends)."""

from __future__ import annotations

import json

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from hypothesis import given, settings, strategies as st

from route_counter.handler.rules import update
from route_counter.handler.store import lean, sigv4
from tests.conftest import examples

KEY = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
TOKEN = st.one_of(st.none(), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
                                     min_size=1, max_size=400))
REGION = st.one_of(st.sampled_from(["us-east-1", "eu-central-1", "cn-north-1", "us-gov-west-1", "ap-south-2"]),
                   st.from_regex(r"[a-z]{2}-[a-z]{4,9}-[1-9]", fullmatch=True))
ENDPOINT = st.one_of(st.none(), st.sampled_from(["http://localhost:8000", "http://127.0.0.1:4566",
                                                 "https://ddb.example.com", "https://ddb.example.com:8443"]))
ROUTE = st.text(min_size=1, max_size=300).map(lambda s: "/" + s)
FILLER = st.text(max_size=5000)  # long, odd bodies: the signature covers the body's hash


def botocore_authorization(request_headers: dict[str, str], body: bytes, creds: sigv4.Credentials, region: str,
                           url: str) -> tuple[str, str]:
    """(signed headers, signature) as botocore computes them for these exact headers and time."""
    headers = {k: v for k, v in request_headers.items() if k not in ("Authorization", "User-Agent")}
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    auth = SigV4Auth(BotocoreCredentials(creds.access_key, creds.secret_key, creds.token), "dynamodb", region)
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    return auth.signed_headers(auth.headers_to_sign(request)), signature


@settings(max_examples=examples(300))
@given(access=KEY, secret=KEY, token=TOKEN, region=REGION, endpoint=ENDPOINT, route=ROUTE, filler=FILLER,
       method=st.sampled_from(["GET", "POST", "HEAD"]))
def test_lean_signature_matches_botocore(access, secret, token, region, endpoint, route, filler, method):
    env = {"AWS_REGION": region, "AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret,
           **({"AWS_SESSION_TOKEN": token} if token else {}), **({"AWS_ENDPOINT_URL_DYNAMODB": endpoint} if endpoint else {})}
    writer = lean.LeanDynamoDB.from_env(env)
    request = update.hit_request("t" + filler[:200], update.Hit(route, method, 1795498200.0))
    request["ExpressionAttributeValues"][":filler"] = {"S": filler}
    body = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = writer._signed_headers("UpdateItem", body)  # every header the writer sends, as it sends them

    assert headers["Host"] == writer.endpoint.host_header
    assert not {name.lower() for name in headers} & (set(SIGNED_HEADERS_BLACKLIST) - {"user-agent"})
    assert ("X-Amz-Security-Token" in headers) == bool(token)
    signed, signature = botocore_authorization(headers, body, writer.credentials, region,
                                               f"{writer.endpoint.scheme}://{writer.endpoint.host_header}/")
    ours = headers["Authorization"]
    assert ours.startswith(f"AWS4-HMAC-SHA256 Credential={access}/{headers['X-Amz-Date'][:8]}/{region}/dynamodb/aws4_request, ")
    assert f"SignedHeaders={signed}, " in ours and ours.endswith(f"Signature={signature}")
    if token:
        assert "x-amz-security-token" in signed.split(";")  # the session token is signed, not just sent


@settings(max_examples=examples(200))
@given(headers=st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
                               st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("\t "),
                                       max_size=40), max_size=6),
       secret=KEY, date=st.datetimes().map(lambda d: d.strftime("%Y%m%dT%H%M%SZ")))
def test_canonical_headers_fold_like_botocore(headers, secret, date):
    """Arbitrary header names and values (case, inner and outer white space) canonicalise as botocore's do."""
    # Outside the names botocore never signs (hop-by-hop headers and the like; the list grew between
    # releases) and those set below. The lean writer sends none of them (test_lean_signature_matches_botocore).
    never_signed = set(SIGNED_HEADERS_BLACKLIST) | {"host", "x-amz-date", "authorization"}
    headers = {k: v for k, v in headers.items() if k.lower() not in never_signed}
    lowered = {}
    for name, value in headers.items():  # one value a name, as HTTP sends them here
        lowered.setdefault(name.lower(), (name, value))
    headers = dict(lowered.values())
    headers.update({"Host": "dynamodb.us-east-1.amazonaws.com", "X-Amz-Date": date})
    creds = sigv4.Credentials("AKID", secret)
    ours = sigv4.authorization("POST", "/", headers, b"{}", creds, "us-east-1", "dynamodb", date)
    signed, signature = botocore_authorization(headers, b"{}", creds, "us-east-1", "https://dynamodb.us-east-1.amazonaws.com/")
    assert f"SignedHeaders={signed}, " in ours and ours.endswith(f"Signature={signature}")
