#!/usr/bin/env python3
"""Generate `src/protocol/messages/` from Kafka's JSON message definitions.

Usage:
    python3 codegen/generate.py [--protocol-dir DIR] [--check]

The JSON files are read from --protocol-dir (default: the environment variable
KAFKA_PROTOCOL_DIR, else `<repo>/codegen/kafka-protocol/message`). One Rust
module is written per JSON file named in MESSAGES, plus `mod.rs`; everything is
formatted with `rustfmt --edition 2024`. With --check nothing is written: the
output is generated into a temporary directory and compared with the checked-in
files; any difference is reported and the exit status is 1.

Python 3.11, standard library only. See codegen/README.md.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

# --------------------------------------------------------------------------
# What to generate. Adding an API = adding its name here (request + response
# are generated from `<Name>Request.json` / `<Name>Response.json`).
# --------------------------------------------------------------------------
APIS = [
    "ApiVersions",
    "Metadata",
    "Produce",
    "Fetch",
    "ListOffsets",
    "FindCoordinator",
    "CreateTopics",
    "DeleteTopics",
    "InitProducerId",
    "OffsetCommit",
    "OffsetFetch",
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "SyncGroup",
    "DescribeGroups",
    "ListGroups",
    "DeleteGroups",
    "SaslHandshake",
    "SaslAuthenticate",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "TxnOffsetCommit",
    "DescribeConfigs",
    "DescribeCluster",
    "CreatePartitions",
    "DeleteRecords",
    "IncrementalAlterConfigs",
    "OffsetForLeaderEpoch",
    "ConsumerGroupHeartbeat",
]

# Versions the shared JSON (a 4.0 snapshot) still marks unstable but that
# Kafka 4.0 released: treated as stable. ConsumerGroupHeartbeat v1 (KIP-848 GA,
# KIP-1082 client-generated member ids) is the only version the librdkafka
# mock cluster offers.
RELEASED_UNSTABLE = {"ConsumerGroupHeartbeat"}

# KIP-219 (client-side throttling): the first version of each response whose
# `ThrottleTimeMs` the client must honour. From that version on, a broker that
# finds a quota violated answers at once and expects the client to send nothing
# more on the connection for that long; before it, the broker delayed the
# response itself and the field only reports the delay. The values are the Java
# client's (`AbstractResponse.shouldClientThrottle`); where the JSON says
# "Starting in version N, on quota violation, brokers send out responses before
# throttling", the generator checks that N agrees. APIs added after Kafka 2.0
# (KIP-219) throttle the client at every version (0). Every response with a
# top-level `ThrottleTimeMs` needs an entry.
CLIENT_THROTTLE_FROM = {
    "ApiVersions": 2,
    "Metadata": 6,
    "Produce": 6,
    "Fetch": 8,
    "ListOffsets": 3,
    "FindCoordinator": 2,
    "CreateTopics": 3,
    "DeleteTopics": 2,
    "InitProducerId": 1,
    "OffsetCommit": 4,
    "OffsetFetch": 4,
    "JoinGroup": 3,
    "Heartbeat": 2,
    "LeaveGroup": 2,
    "SyncGroup": 2,
    "DescribeGroups": 2,
    "ListGroups": 2,
    "DeleteGroups": 1,
    "AddPartitionsToTxn": 1,
    "AddOffsetsToTxn": 1,
    "EndTxn": 1,
    "TxnOffsetCommit": 1,
    "DescribeConfigs": 2,
    "DescribeCluster": 0,
    "CreatePartitions": 1,
    "DeleteRecords": 1,
    "IncrementalAlterConfigs": 0,
    "OffsetForLeaderEpoch": 2,
    "ConsumerGroupHeartbeat": 0,
}

# `"type": "data"` files (no API key), generated as plain structs.
DATA_TYPES = [
    "ConsumerProtocolSubscription",
    "ConsumerProtocolAssignment",
]

# The attribute on the test builders (`sample_n`, `sample` and their helpers in
# `support`): compiled for the crate's unit tests and with the `unstable`
# feature (integration tests, fuzzing), never in a default release build.
TEST_ONLY = '#[cfg(any(test, feature = "unstable"))]\n'

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_REL = os.path.join("src", "protocol", "messages")
INF = 0x7FFF  # "N+" ranges are open; i16::MAX stands for "no upper bound".

RUST_KEYWORDS = {
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
}
NOT_RAW = {"self", "super", "crate", "Self"}  # cannot be raw identifiers

INT_TYPES = {
    # json type: (rust type, put method, read method, size)
    "int8": ("i8", "put_i8", "read_i8", 1),
    "int16": ("i16", "put_i16", "read_i16", 2),
    "uint16": ("u16", "put_u16", "read_u16", 2),
    "int32": ("i32", "put_i32", "read_i32", 4),
    "uint32": ("u32", "put_u32", "read_u32", 4),
    "int64": ("i64", "put_i64", "read_i64", 8),
}
INT_BOUNDS = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
PRIMITIVES = set(INT_TYPES) | {"bool", "float64", "string", "bytes", "records", "uuid"}


class GenError(Exception):
    pass


# --------------------------------------------------------------------------
# JSON loading
# --------------------------------------------------------------------------
def strip_comments(text: str) -> str:
    """Removes `//` comments outside of strings."""
    out = []
    i, n = 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
            continue
        if c == '"':
            in_str = True
            out.append(c)
            i += 1
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        out.append(c)
        i += 1
    return "".join(out)


def load_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.loads(strip_comments(f.read()))


# --------------------------------------------------------------------------
# Version ranges: (lo, hi) inclusive, hi == INF for "N+"; None is empty.
# --------------------------------------------------------------------------
def parse_range(s) -> tuple[int, int] | None:
    if s is None:
        return None
    s = str(s).strip()
    if s == "none":
        return None
    if s.endswith("+"):
        return (int(s[:-1]), INF)
    if "-" in s:
        a, b = s.split("-", 1)
        return (int(a), int(b))
    return (int(s), int(s))


def inter(a, b):
    if a is None or b is None:
        return None
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def hull(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return (min(a[0], b[0]), max(a[1], b[1]))


def covers(a, b) -> bool:
    """True when range a contains all of range b."""
    return b is None or (a is not None and a[0] <= b[0] and a[1] >= b[1])


def fmt_range(r) -> str:
    if r is None:
        return "none"
    if r[1] == INF:
        return f"{r[0]}+"
    if r[0] == r[1]:
        return f"{r[0]}"
    return f"{r[0]}-{r[1]}"


def vexpr(r, ctx) -> str:
    """A Rust bool expression for `version in r`, knowing `version in ctx`."""
    if ctx is None:
        return "false"
    r = inter(r, ctx)
    if r is None:
        return "false"
    if r[0] <= ctx[0] and r[1] >= ctx[1]:
        return "true"
    lo, hi = r
    if hi >= ctx[1]:
        return f"version >= {lo}"
    if lo <= ctx[0]:
        return f"version <= {hi}"
    if lo == hi:
        return f"version == {lo}"
    return f"({lo}..={hi}).contains(&version)"


def vneg(e: str) -> str:
    if e == "true":
        return "false"
    if e == "false":
        return "true"
    for op, neg in ((" == ", " != "), (" <= ", " > "), (" >= ", " < ")):
        if op in e:
            return e.replace(op, neg)
    return "!" + e


# --------------------------------------------------------------------------
# Names and docs
# --------------------------------------------------------------------------
def snake(name: str) -> str:
    out = []
    for i, c in enumerate(name):
        if c.isupper():
            prev = name[i - 1] if i > 0 else ""
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if i > 0 and (prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower())):
                out.append("_")
            out.append(c.lower())
        else:
            out.append(c)
    return "".join(out)


def rust_ident(name: str) -> str:
    s = snake(name)
    if s in NOT_RAW:
        return s + "_"
    if s in RUST_KEYWORDS:
        return "r#" + s
    return s


def plain_ident(name: str) -> str:
    """Identifier usable as part of a local variable name (no r#)."""
    return snake(name)


def doc_escape(text: str) -> str:
    text = " ".join(text.split())
    for a, b in (("\\", "\\\\"), ("[", "\\["), ("]", "\\]"), ("<", "\\<"), (">", "\\>")):
        text = text.replace(a, b)
    return text


def doc_lines(text: str, indent: str = "") -> str:
    return "".join(f"{indent}/// {line}".rstrip() + "\n" for line in text.split("\n"))


def rust_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------
@dataclass
class Field:
    name: str  # JSON name
    ident: str  # Rust field name
    local: str  # local variable name in decode
    type: str  # JSON type as written
    is_array: bool
    elem: str  # element type (or the type itself when not an array)
    versions: tuple | None
    nullable: tuple | None
    tagged: tuple | None
    tag: int | None
    ignorable: bool
    default: str | None
    about: str | None
    flex_override: tuple | None
    has_override: bool
    struct: "Struct | None" = None  # element struct for struct/[]struct

    @property
    def is_struct(self) -> bool:
        return self.struct is not None

    @property
    def is_opt(self) -> bool:
        return self.nullable is not None


@dataclass
class Struct:
    name: str
    about: str | None
    raw_fields: list
    fields: list = field(default_factory=list)
    range: tuple | None = None
    top: bool = False
    common: bool = False


@dataclass
class Message:
    file: str  # e.g. MetadataRequest
    module: str
    kind: str  # request / response / data
    api_key: int | None
    valid: tuple
    flexible: tuple | None
    unstable: bool
    root: Struct
    structs: list  # all structs in order of definition (root first)
    api_name: str
    has_flexible: bool
    max_version: int = 0  # stable max (set later)
    # Responses: the first version whose throttle time the client must honour
    # (KIP-219), or None when the response has no `ThrottleTimeMs` (set later).
    client_throttle_from: int | None = None


class Builder:
    def __init__(self, spec: dict, file: str):
        self.spec = spec
        self.file = file
        self.structs: dict[str, Struct] = {}
        self.order: list[Struct] = []

    def add_struct(self, s: Struct):
        if s.name in self.structs:
            raise GenError(f"{self.file}: struct {s.name} defined twice")
        self.structs[s.name] = s
        self.order.append(s)

    def build(self) -> Message:
        spec = self.spec
        name = spec["name"]
        kind = spec["type"]
        valid = parse_range(spec["validVersions"])
        flexible = parse_range(spec.get("flexibleVersions", "none"))
        root = Struct(name=name, about=None, raw_fields=spec["fields"], top=True)
        root.range = valid
        self.add_struct(root)
        for cs in spec.get("commonStructs", []):
            self.add_struct(Struct(name=cs["name"], about=cs.get("about"), raw_fields=cs["fields"], common=True))
        # Declare inline structs (depth first, in order).
        self._declare_inline(root.raw_fields)
        for cs in [s for s in self.order if s.common]:
            self._declare_inline(cs.raw_fields)
        # Build fields.
        for s in self.order:
            s.fields = [self._field(f, s) for f in s.raw_fields]
        # Version ranges of nested structs (union over their uses), to a fixpoint.
        changed = True
        while changed:
            changed = False
            for s in self.order:
                if s.range is None:
                    continue
                for f in s.fields:
                    if f.struct is None:
                        continue
                    r = inter(f.versions, s.range)
                    new = hull(f.struct.range, r)
                    if new != f.struct.range:
                        f.struct.range = new
                        changed = True
        for s in self.order:
            if s.range is None:
                raise GenError(f"{self.file}: struct {s.name} is never used")
        msg = Message(
            file=self.file,
            module=snake(self.file),
            kind=kind,
            api_key=spec.get("apiKey"),
            valid=valid,
            flexible=flexible,
            unstable=bool(spec.get("latestVersionUnstable", False)),
            root=root,
            structs=self.order,
            api_name=re.sub(r"(Request|Response)$", "", name) if kind in ("request", "response") else name,
            has_flexible=inter(flexible, valid) is not None,
        )
        return msg

    def _declare_inline(self, raw_fields):
        for f in raw_fields:
            if "fields" in f:
                t = f["type"]
                sname = t[2:] if t.startswith("[]") else t
                self.add_struct(Struct(name=sname, about=f.get("about"), raw_fields=f["fields"]))
                self._declare_inline(f["fields"])

    def _field(self, f: dict, owner: Struct) -> Field:
        t = f["type"]
        is_array = t.startswith("[]")
        elem = t[2:] if is_array else t
        struct = None
        if elem not in PRIMITIVES:
            struct = self.structs.get(elem)
            if struct is None:
                raise GenError(f"{self.file}: unknown type {t} of field {f['name']}")
        versions = parse_range(f.get("versions"))
        if "versions" not in f:
            raise GenError(f"{self.file}: field {f['name']} has no versions")
        nullable = parse_range(f.get("nullableVersions"))
        tagged = parse_range(f.get("taggedVersions"))
        tag = f.get("tag")
        if (tag is None) != (tagged is None):
            raise GenError(f"{self.file}: field {f['name']} needs both tag and taggedVersions")
        if tagged is not None and tagged != versions:
            raise GenError(f"{self.file}: tagged field {f['name']} with versions != taggedVersions")
        if nullable is not None and not is_array and elem not in ("string", "bytes", "records") and struct is None:
            raise GenError(f"{self.file}: field {f['name']} of type {t} cannot be nullable")
        if tag is not None and nullable is not None and struct is not None and not is_array:
            # Java marks these with an unsigned varint (0 = null), not the i8 used elsewhere.
            raise GenError(f"{self.file}: tagged nullable struct field {f['name']} is not supported")
        if tag is not None and elem == "records":
            raise GenError(f"{self.file}: tagged records field {f['name']} is not supported")
        if is_array and elem in ("bytes", "records"):
            raise GenError(f"{self.file}: arrays of {elem} are not supported")
        d = f.get("default")
        if isinstance(d, bool):
            d = "true" if d else "false"
        elif d is not None:
            d = str(d)
        return Field(
            name=f["name"],
            ident=rust_ident(f["name"]),
            local="f_" + plain_ident(f["name"]),
            type=t,
            is_array=is_array,
            elem=elem,
            versions=versions,
            nullable=nullable,
            tagged=tagged,
            tag=tag,
            ignorable=bool(f.get("ignorable", False)),
            default=d,
            about=f.get("about"),
            flex_override=parse_range(f.get("flexibleVersions")),
            has_override="flexibleVersions" in f,
            struct=struct,
        )


# --------------------------------------------------------------------------
# Rust code generation for one message file
# --------------------------------------------------------------------------
def parse_int(s: str) -> int:
    s = s.strip()
    neg = s.startswith("-")
    body = s[1:] if neg else s
    v = int(body, 16) if body.lower().startswith("0x") else int(body)
    return -v if neg else v


class Gen:
    def __init__(self, msg: Message):
        self.msg = msg

    # ---- types and defaults ----
    def elem_rust(self, f: Field) -> str:
        if f.struct is not None:
            return f.struct.name
        e = f.elem
        if e in INT_TYPES:
            return INT_TYPES[e][0]
        return {"bool": "bool", "float64": "f64", "string": "String", "bytes": "Bytes",
                "records": "Bytes", "uuid": "Uuid"}[e]

    def inner_rust(self, f: Field) -> str:
        t = self.elem_rust(f)
        return f"Vec<{t}>" if f.is_array else t

    def rust_type(self, f: Field) -> str:
        t = self.inner_rust(f)
        return f"Option<{t}>" if f.is_opt else t

    def int_lit(self, f: Field, v: int) -> str:
        lo, hi = INT_BOUNDS[f.elem]
        rt = INT_TYPES[f.elem][0]
        if not lo <= v <= hi:
            raise GenError(f"{self.msg.file}: default {v} out of range for {f.name}")
        if v == lo and lo != 0:
            return f"{rt}::MIN"
        if v == hi:
            return f"{rt}::MAX"
        return str(v)

    def inner_default(self, f: Field) -> str:
        d = f.default
        if f.is_array:
            if d not in (None, "", "null"):
                raise GenError(f"{self.msg.file}: array default {d!r} for {f.name}")
            return "Vec::new()"
        if f.struct is not None:
            return f"{f.struct.name}::default()"
        e = f.elem
        if e == "bool":
            return "true" if (d or "false").lower() == "true" else "false"
        if e in INT_TYPES:
            return self.int_lit(f, parse_int(d) if d not in (None, "") else 0)
        if e == "float64":
            v = float(d) if d not in (None, "") else 0.0
            r = repr(v)
            return r if ("." in r or "e" in r) else r + ".0"
        if e == "string":
            if d in (None, "", "null"):
                return "String::new()"
            return f"String::from({rust_str(d)})"
        if e in ("bytes", "records"):
            if d not in (None, "", "null"):
                raise GenError(f"{self.msg.file}: bytes default {d!r} for {f.name}")
            return "Bytes::new()"
        if e == "uuid":
            if d not in (None, ""):
                raise GenError(f"{self.msg.file}: uuid default {d!r} for {f.name} not supported")
            return "Uuid::ZERO"
        raise GenError(f"type {e}")

    def default_expr(self, f: Field) -> str:
        if f.is_opt:
            if f.default == "null":
                return "None"
            return f"Some({self.inner_default(f)})"
        if f.default == "null":
            raise GenError(f"{self.msg.file}: non-nullable field {f.name} has default null")
        return self.inner_default(f)

    def nondefault(self, f: Field, val: str) -> str:
        """Rust bool expression: `val` (a place like self.x) differs from the default."""
        if f.is_opt:
            if f.default == "null":
                return f"{val}.is_some()"
            if f.elem == "string" and not f.is_array:
                return f"{val}.as_deref() != Some({rust_str(f.default or '')})"
            return f"{val} != {self.default_expr(f)}"
        if f.is_array:
            return f"!{val}.is_empty()"
        if f.struct is not None:
            return f"{val} != {f.struct.name}::default()"
        e = f.elem
        d = self.inner_default(f)
        if e == "bool":
            return val if d == "false" else f"!{val}"
        if e == "string":
            return f"!{val}.is_empty()" if d == "String::new()" else f"{val} != {rust_str(f.default)}"
        if e in ("bytes", "records"):
            return f"!{val}.is_empty()"
        if e == "uuid":
            return f"!{val}.is_zero()"
        return f"{val} != {d}"

    # ---- per-struct context ----
    def flex_expr(self, ctx) -> str:
        return vexpr(self.msg.flexible, ctx)

    def compact_expr(self, f: Field, s: Struct, ctx) -> str:
        """Compact encoding for field f given version in ctx; uses the `flexible` local."""
        if f.has_override:
            return vexpr(f.flex_override, ctx)
        e = self.flex_expr(s.range)
        return e if e in ("true", "false") else "flexible"

    def present_ctx(self, f: Field, s: Struct):
        return inter(f.versions, s.range)

    def what(self, s: Struct, f: Field | None = None) -> str:
        parts = [self.msg.file]
        if not s.top:
            parts.append(s.name)
        if f is not None:
            parts.append(f.name)
        return rust_str(".".join(parts))

    # ---- minimum encoded sizes (for hostile array counts) ----
    def is_flexible_at(self, v: int) -> bool:
        r = self.msg.flexible
        return r is not None and r[0] <= v <= r[1]

    def field_compact_at(self, f: Field, v: int) -> bool:
        if f.has_override:
            r = f.flex_override
            return r is not None and r[0] <= v <= r[1]
        return self.is_flexible_at(v)

    def prim_min(self, e: str, compact: bool) -> int:
        if e in INT_TYPES:
            return INT_TYPES[e][3]
        return {"bool": 1, "float64": 8, "uuid": 16, "string": 1 if compact else 2,
                "bytes": 1 if compact else 4, "records": 1 if compact else 4}[e]

    def struct_min(self, s: Struct, v: int) -> int:
        total = 0
        for f in s.fields:
            if f.tagged is not None:
                continue
            r = f.versions
            if r is None or not (r[0] <= v <= r[1]):
                continue
            total += self.field_min(f, v, self.field_compact_at(f, v))
        if self.is_flexible_at(v):
            total += 1
        return total

    def field_min(self, f: Field, v: int, compact: bool) -> int:
        if f.is_array:
            return 1 if compact else 4
        if f.struct is not None:
            if f.nullable is not None and f.nullable[0] <= v <= f.nullable[1]:
                return 1
            return self.struct_min(f.struct, v)
        return self.prim_min(f.elem, compact)

    def elem_min(self, f: Field, v: int, compact: bool) -> int:
        if f.struct is not None:
            return max(1, self.struct_min(f.struct, v))
        return max(1, self.prim_min(f.elem, compact))

    def min_expr(self, f: Field, ctx, force_compact: bool) -> str:
        if ctx is None:
            return "1"
        segs = []
        for v in range(ctx[0], ctx[1] + 1):
            c = True if force_compact else self.field_compact_at(f, v)
            m = self.elem_min(f, v, c)
            if segs and segs[-1][2] == m:
                segs[-1][1] = v
            else:
                segs.append([v, v, m])
        if len(segs) == 1:
            return str(segs[0][2])
        arms = []
        for i, (lo, hi, m) in enumerate(segs):
            if i == len(segs) - 1:
                arms.append(f"_ => {m}")
            elif i == 0:
                arms.append(f"..={hi} => {m}")
            elif lo == hi:
                arms.append(f"{lo} => {m}")
            else:
                arms.append(f"{lo}..={hi} => {m}")
        return "match version { " + ", ".join(arms) + " }"

    # ---- encoding ----
    def elem_put_closure(self, f: Field, c: str) -> str:
        e = f.elem
        if e in INT_TYPES:
            return f"|buf, x| {{ buf.{INT_TYPES[e][1]}(*x); Ok(()) }}"
        if e == "bool":
            return "|buf, x| { buf.put_bool(*x); Ok(()) }"
        if e == "float64":
            return "|buf, x| { buf.put_f64(*x); Ok(()) }"
        if e == "uuid":
            return "|buf, x| { buf.put_uuid(x); Ok(()) }"
        if e == "string":
            return f"|buf, x| buf.put_string(x, {c})"
        raise GenError(f"array of {e}")

    def enc_value(self, f: Field, s: Struct, c: str, nctx) -> list[str]:
        """Statements writing self.<field> to `buf`; c = compact expr; nctx = versions where present."""
        val = f"self.{f.ident}"
        out = []
        if f.is_opt:
            n = vexpr(f.nullable, nctx)
            if f.struct is not None and not f.is_array:
                out.append(f"put_opt_struct(buf, {val}.as_ref(), {n}, {self.what(s, f)}, version)?;")
                return out
            if n != "true":
                cond = f"{val}.is_none()" if n == "false" else f"{vneg(n)} && {val}.is_none()"
                out.append(f"if {cond} {{ return Err(null_err({self.what(s, f)}, version)); }}")
            if f.is_array:
                if f.struct is not None:
                    out.append(f"put_nullable_structs(buf, {val}.as_deref(), {c}, version)?;")
                else:
                    out.append(f"put_nullable_array(buf, {val}.as_deref(), {c}, {self.elem_put_closure(f, c)})?;")
            elif f.elem == "string":
                out.append(f"buf.put_nullable_string({val}.as_deref(), {c})?;")
            else:
                out.append(f"buf.put_nullable_bytes({val}.as_deref(), {c})?;")
            return out
        if f.is_array:
            if f.struct is not None:
                out.append(f"put_structs(buf, &{val}, {c}, version)?;")
            else:
                out.append(f"put_array(buf, &{val}, {c}, {self.elem_put_closure(f, c)})?;")
            return out
        if f.struct is not None:
            out.append(f"{val}.encode(buf, version)?;")
            return out
        e = f.elem
        if e in INT_TYPES:
            out.append(f"buf.{INT_TYPES[e][1]}({val});")
        elif e == "bool":
            out.append(f"buf.put_bool({val});")
        elif e == "float64":
            out.append(f"buf.put_f64({val});")
        elif e == "uuid":
            out.append(f"buf.put_uuid(&{val});")
        elif e == "string":
            out.append(f"buf.put_string(&{val}, {c})?;")
        else:
            out.append(f"buf.put_bytes(&{val}, {c})?;")
        return out

    def gen_encode(self, s: Struct) -> str:
        m = self.msg
        lines = []
        if s.top:
            lines.append(f"check_encode_version({rust_str(m.file)}, version, {m.valid[0]}, {m.valid[1]})?;")
        flex = self.flex_expr(s.range)
        body = []
        for f in s.fields:
            if f.tagged is not None:
                continue
            pctx = self.present_ctx(f, s)
            present = vexpr(f.versions, s.range)
            c = self.compact_expr(f, s, pctx)
            stmts = self.enc_value(f, s, c, pctx) if present != "false" else []
            nd = self.nondefault(f, f"self.{f.ident}")
            err = f"return Err(absent_err({self.what(s, f)}, version));"
            if present == "true":
                body.extend(stmts)
            elif present == "false":
                if not f.ignorable:
                    body.append(f"if {nd} {{ {err} }}")
            elif f.ignorable:
                body.append(f"if {present} {{ {' '.join(stmts)} }}")
            else:
                body.append(f"if {present} {{ {' '.join(stmts)} }} else if {nd} {{ {err} }}")
        tagged_fields = sorted([f for f in s.fields if f.tagged is not None], key=lambda f: f.tag)
        tag_stmts = []
        for f in tagged_fields:
            pctx = self.present_ctx(f, s)
            tv = vexpr(f.tagged, s.range)
            nd = self.nondefault(f, f"self.{f.ident}")
            err = f"return Err(absent_err({self.what(s, f)}, version));"
            if tv == "false":
                if not f.ignorable:
                    tag_stmts.append(f"if {nd} {{ {err} }}")
                continue
            stmts = self.enc_value(f, s, "true", pctx)
            if len(stmts) == 1 and stmts[0].endswith("?;"):
                closure = stmts[0][:-2]
            else:
                closure = f"{{ {' '.join(stmts)} Ok(()) }}"
            put = f"tagged_field(&mut tagged, {f.tag}, |buf| {closure})?;"
            if tv == "true":
                tag_stmts.append(f"if {nd} {{ {put} }}")
            elif f.ignorable:
                tag_stmts.append(f"if {tv} && {nd} {{ {put} }}")
            else:
                tag_stmts.append(f"if {tv} {{ if {nd} {{ {put} }} }} else if {nd} {{ {err} }}")
        if m.has_flexible:
            known = "tagged" if tagged_fields else "Vec::new()"
            pre = ["let mut tagged = Vec::new();"] if tagged_fields else []
            put = f"put_tagged(buf, {known}, &self.unknown_tagged_fields)?;"
            nope = f"no_tagged(&self.unknown_tagged_fields, {self.what(s)}, version)?;"
            if flex == "true":
                body.extend(pre + tag_stmts + [put])
            elif flex == "false":
                body.extend(tag_stmts + [nope])
            else:
                body.extend(pre + tag_stmts + [f"if flexible {{ {put} }} else {{ {nope} }}"])
        else:
            body.extend(tag_stmts)
        text = "\n".join(body)
        if re.search(r"\bflexible\b", text):
            lines.append(f"let flexible = {flex};")
        lines.extend(body)
        lines.append("Ok(())")
        text = "\n".join(lines)
        vname = "version" if re.search(r"\bversion\b", text) else "_version"
        return (
            f"impl Encodable for {s.name} {{\n"
            f"fn encode(&self, buf: &mut Vec<u8>, {vname}: i16) -> Result<(), EncodeError> {{\n"
            f"{text}\n}}\n}}\n"
        )

    # ---- decoding ----
    def elem_read_closure(self, f: Field, c: str) -> str:
        e = f.elem
        if e in INT_TYPES:
            return f"|r| r.{INT_TYPES[e][2]}()"
        if e == "bool":
            return "|r| r.read_bool()"
        if e == "float64":
            return "|r| r.read_f64()"
        if e == "uuid":
            return "|r| r.read_uuid()"
        if e == "string":
            return f"|r| r.read_string({c})"
        raise GenError(f"array of {e}")

    def dec_value(self, f: Field, s: Struct, c: str, nctx, force_compact: bool) -> str:
        what = self.what(s, f)
        if f.is_array:
            mn = self.min_expr(f, nctx, force_compact)
            if f.struct is not None:
                raw = f"read_structs(r, {c}, {mn}, version)?"
            else:
                raw = f"r.read_array({c}, {mn}, {self.elem_read_closure(f, c)})?"
        elif f.struct is not None:
            if f.is_opt:
                return f"read_opt_struct(r, {vexpr(f.nullable, nctx)}, version)?"
            return f"{f.struct.name}::decode(r, version)?"
        elif f.elem in ("string", "bytes", "records"):
            kind = "string" if f.elem == "string" else "bytes"
            if not f.is_opt:
                return f"r.read_{kind}({c})?"
            raw = f"r.read_nullable_{kind}({c})?"
        elif f.elem in INT_TYPES:
            return f"r.{INT_TYPES[f.elem][2]}()?"
        else:
            return {"bool": "r.read_bool()?", "float64": "r.read_f64()?", "uuid": "r.read_uuid()?"}[f.elem]
        if f.is_opt:
            n = vexpr(f.nullable, nctx)
            if n == "true":
                return raw
            return f"check_null({raw}, {n}, {what})?"
        return f"non_null({raw}, {what})?"

    def gen_decode(self, s: Struct) -> str:
        m = self.msg
        lines = []
        if s.top:
            lines.append(f"check_decode_version({rust_str(m.file)}, version, {m.valid[0]}, {m.valid[1]})?;")
        flex = self.flex_expr(s.range)
        body = []
        for f in s.fields:
            if f.tagged is not None:
                continue
            pctx = self.present_ctx(f, s)
            present = vexpr(f.versions, s.range)
            c = self.compact_expr(f, s, pctx)
            if present == "true":
                body.append(f"let {f.local} = {self.dec_value(f, s, c, pctx, False)};")
            elif present == "false":
                body.append(f"let {f.local} = {self.default_expr(f)};")
            else:
                body.append(
                    f"let {f.local} = if {present} {{ {self.dec_value(f, s, c, pctx, False)} }} "
                    f"else {{ {self.default_expr(f)} }};"
                )
        tagged_fields = sorted([f for f in s.fields if f.tagged is not None], key=lambda f: f.tag)
        arms = []
        flex_ctx = inter(s.range, m.flexible)
        for f in tagged_fields:
            tv = vexpr(f.tagged, flex_ctx)
            if tv == "false":
                body.append(f"let {f.local} = {self.default_expr(f)};")
                continue
            body.append(f"let mut {f.local} = {self.default_expr(f)};")
            pctx = self.present_ctx(f, s)
            guard = "" if tv == "true" else f" if {tv}"
            arms.append(f"{f.tag}{guard} => {{ {f.local} = {self.dec_value(f, s, 'true', pctx, True)}; tag_end(r, tag) }}")
        if m.has_flexible:
            if arms:
                read = "r.read_tagged_fields(|tag, r| match tag { " + " ".join(arms) + " _ => Ok(false), })?"
            else:
                read = "r.read_tagged_fields(|_, _| Ok(false))?"
            if flex == "true":
                body.append(f"let unknown_tagged_fields = {read};")
            elif flex == "false":
                body.append("let unknown_tagged_fields = Vec::new();")
            else:
                body.append(f"let unknown_tagged_fields = if flexible {{ {read} }} else {{ Vec::new() }};")
        inits = [f"{f.ident}: {f.local}" for f in s.fields]
        if m.has_flexible:
            inits.append("unknown_tagged_fields")
        body.append("Ok(Self { " + ", ".join(inits) + " })")
        text = "\n".join(body)
        if re.search(r"\bflexible\b", text):
            lines.append(f"let flexible = {flex};")
        lines.extend(body)
        text = "\n".join(lines)
        vname = "version" if re.search(r"\bversion\b", text) else "_version"
        rname = "r" if re.search(r"\br\b", text) else "_r"
        return (
            f"impl Decodable for {s.name} {{\n"
            f"fn decode({rname}: &mut Reader, {vname}: i16) -> DecodeResult<Self> {{\n"
            f"{text}\n}}\n}}\n"
        )

    # ---- samples ----
    def sample_k(self, f: Field, idx: int) -> int:
        k = idx + 1
        if f.elem in INT_TYPES and not f.is_array and not f.is_opt:
            d = parse_int(f.default) if f.default not in (None, "") else 0
            if k <= d <= 100:
                k = d + 1
        return k

    def sample_elem(self, f: Field, k: int, n: str) -> str:
        e = f.elem
        if f.struct is not None:
            return f"{f.struct.name}::sample_n(version, {n})"
        if e in INT_TYPES:
            return f"({k} + {n}) as {INT_TYPES[e][0]}"
        if e == "bool":
            return "true" if self.inner_default(f) == "false" else "false"
        if e == "float64":
            return f"({k} + {n}) as f64 + 0.5"
        if e == "string":
            return f"sample_str({k}, {n})"
        if e in ("bytes", "records"):
            return f"sample_bytes({k}, {n})"
        if e == "uuid":
            return f"sample_uuid({k}, {n})"
        raise GenError(e)

    def gen_sample(self, s: Struct) -> str:
        inits = []
        for idx, f in enumerate(s.fields):
            k = self.sample_k(f, idx)
            pctx = self.present_ctx(f, s)
            present = vexpr(f.versions, s.range)
            if f.tagged is not None:
                present = vexpr(f.tagged, s.range)
            if f.is_array:
                inner = f"sample_vec(n, |i| {self.sample_elem(f, k, 'i')})"
            else:
                inner = self.sample_elem(f, k, "n")
            if f.is_opt:
                nv = vexpr(f.nullable, pctx)
                val = f"Some({inner})" if nv == "false" else f"sample_opt({nv}, {k}, n, {inner})"
            else:
                val = inner
            dflt = self.default_expr(f)
            if present not in ("true", "false") and (val, dflt) in (("true", "false"), ("false", "true")):
                # A bool that is non-default exactly when present.
                inits.append(f"{f.ident}: {present if val == 'true' else vneg(present)}")
            elif present == "true":
                inits.append(f"{f.ident}: {val}")
            elif present == "false":
                inits.append(f"{f.ident}: {self.default_expr(f)}")
            else:
                inits.append(f"{f.ident}: if {present} {{ {val} }} else {{ {self.default_expr(f)} }}")
        if self.msg.has_flexible:
            flex = self.flex_expr(s.range)
            inits.append(f"unknown_tagged_fields: sample_tags({flex}, n)")
        text = "Self { " + ", ".join(inits) + " }"
        vname = "version" if re.search(r"\bversion\b", text) else "_version"
        nname = "n" if re.search(r"\bn\b", text) else "_n"
        out = (
            "/// A deterministic value with every field of `version` set to a non-default value\n"
            "/// (nullable fields alternate with null); `n` varies the values. For tests and fuzzing.\n"
            f"{TEST_ONLY}"
            "#[doc(hidden)]\n"
            f"pub fn sample_n({vname}: i16, {nname}: usize) -> Self {{\n{text}\n}}\n"
        )
        if s.top:
            out += (
                "/// A deterministic value with every field of `version` set (see `sample_n`).\n"
                f"{TEST_ONLY}"
                "#[doc(hidden)]\n"
                "pub fn sample(version: i16) -> Self {\nSelf::sample_n(version, 0)\n}\n"
            )
        return out

    # ---- struct definition ----
    def field_doc(self, f: Field) -> str:
        about = doc_escape(f.about) if f.about else f"The `{f.name}` field."
        notes = [f"versions {fmt_range(f.versions)}"]
        if f.nullable is not None:
            notes.append(f"nullable {fmt_range(f.nullable)}")
        if f.tagged is not None:
            notes.append(f"tag {f.tag} in {fmt_range(f.tagged)}")
        if f.default is not None and f.default != "":
            notes.append(f"default {f.default}")
        if f.ignorable:
            notes.append("ignorable")
        return f"{about}\n\nJSON: `{f.name}`, {', '.join(notes)}."

    def struct_doc(self, s: Struct) -> str:
        m = self.msg
        if s.top:
            flex = "not flexible" if not m.has_flexible else f"flexible from v{m.flexible[0]}"
            if m.kind == "data":
                first = f"The `{m.file}` data type"
            else:
                first = f"The {m.api_name} {m.kind} (API key {m.api_key})"
            extra = " (the last one is unstable)" if m.unstable else ""
            return f"{first}: versions {fmt_range(m.valid)}{extra}, {flex}.\n\nGenerated from `{m.file}.json`."
        about = doc_escape(s.about) if s.about else f"The `{s.name}` structure."
        return f"{about}\n\nVersions {fmt_range(s.range)}."

    def gen_struct(self, s: Struct) -> str:
        out = [doc_lines(self.struct_doc(s)), "#[derive(Clone, Debug, PartialEq)]\n", f"pub struct {s.name} {{\n"]
        defaults = []
        for f in s.fields:
            out.append(doc_lines(self.field_doc(f)))
            out.append(f"pub {f.ident}: {self.rust_type(f)},\n")
            defaults.append(f"{f.ident}: {self.default_expr(f)}")
        if self.msg.has_flexible:
            out.append("/// Tagged fields this client does not know, kept so they are re-encoded.\n")
            out.append("pub unknown_tagged_fields: Vec<RawTaggedField>,\n")
            defaults.append("unknown_tagged_fields: Vec::new()")
        out.append("}\n\n")
        out.append(f"impl Default for {s.name} {{\nfn default() -> Self {{\nSelf {{ {', '.join(defaults)} }}\n}}\n}}\n\n")
        consts = ""
        if s.top:
            m = self.msg
            fmin = m.flexible[0] if m.has_flexible else "i16::MAX"
            consts = (
                "/// Lowest version this crate supports.\n"
                f"pub const MIN_VERSION: i16 = {m.valid[0]};\n"
                "/// Highest stable version (excludes a version the JSON marks as still under development).\n"
                f"pub const MAX_VERSION: i16 = {m.max_version};\n"
                "/// Highest version the codec can encode and decode, including an unstable one.\n"
                f"pub const HIGHEST_SUPPORTED_VERSION: i16 = {m.valid[1]};\n"
                "/// First flexible version, or `i16::MAX` when there is none.\n"
                f"pub const FLEXIBLE_MIN: i16 = {fmin};\n"
            )
        out.append(f"impl {s.name} {{\n{consts}{self.gen_sample(s)}}}\n\n")
        out.append(self.gen_encode(s))
        out.append("\n")
        out.append(self.gen_decode(s))
        out.append("\n")
        return "".join(out)

    def gen_module(self, response_of: dict) -> str:
        m = self.msg
        out = [
            f"//! `{m.file}`, generated by `codegen/generate.py` from `{m.file}.json`. Do not edit.\n\n",
            "use super::support::*;\n\n",
        ]
        for s in m.structs:
            out.append(self.gen_struct(s))
        fmin = m.flexible[0] if m.has_flexible else "i16::MAX"
        if m.kind == "request":
            resp = response_of[m.api_name]
            out.append(
                f"impl Request for {m.file} {{\n"
                f"const API_KEY: i16 = {m.api_key};\n"
                f"const NAME: &'static str = {rust_str(m.api_name)};\n"
                f"const MIN_VERSION: i16 = {m.valid[0]};\n"
                f"const MAX_VERSION: i16 = {m.max_version};\n"
                f"const FLEXIBLE_MIN: i16 = {fmin};\n"
                f"type Response = super::{resp};\n}}\n"
            )
        elif m.kind == "response":
            throttle = ""
            if m.client_throttle_from is not None:
                ident = next(f.ident for f in m.root.fields if f.name == "ThrottleTimeMs")
                if m.client_throttle_from <= m.valid[0]:
                    body = f"let _ = version;\nself.{ident}"
                else:
                    body = f"if version >= {m.client_throttle_from} {{ self.{ident} }} else {{ 0 }}"
                throttle = f"fn client_throttle_time_ms(&self, version: i16) -> i32 {{\n{body}\n}}\n"
            out.append(
                f"impl Response for {m.file} {{\n"
                f"const API_KEY: i16 = {m.api_key};\n"
                f"const FLEXIBLE_MIN: i16 = {fmin};\n{throttle}}}\n"
            )
        return "".join(out)


# --------------------------------------------------------------------------
# mod.rs
# --------------------------------------------------------------------------
SUPPORT = r'''
/// Helpers shared by the generated modules.
#[allow(dead_code)]
mod support {
    #[allow(unused_imports)]
    pub(crate) use crate::protocol::primitives::{
        put_tagged_fields, BufMut, DecodeError, DecodeResult, EncodeError, RawTaggedField, Reader, Uuid,
    };
    #[allow(unused_imports)]
    pub(crate) use crate::protocol::{Bytes, Decodable, Encodable, Request, Response};

    /// A field the version lacks holds a non-default value.
    pub(crate) fn absent_err(what: &str, version: i16) -> EncodeError {
        EncodeError::new(format!(
            "{what} holds a non-default value, but version {version} does not have this field"
        ))
    }

    /// A field is null in a version where it is not nullable.
    pub(crate) fn null_err(what: &str, version: i16) -> EncodeError {
        EncodeError::new(format!("{what} is null, but it is not nullable in version {version}"))
    }

    pub(crate) fn check_encode_version(name: &str, version: i16, min: i16, max: i16) -> Result<(), EncodeError> {
        if (min..=max).contains(&version) {
            Ok(())
        } else {
            Err(EncodeError::new(format!("{name} has no version {version} (supported: {min}-{max})")))
        }
    }

    pub(crate) fn check_decode_version(name: &str, version: i16, min: i16, max: i16) -> DecodeResult<()> {
        if (min..=max).contains(&version) {
            Ok(())
        } else {
            Err(DecodeError::new(format!("{name} has no version {version} (supported: {min}-{max})")))
        }
    }

    pub(crate) fn put_array<T>(
        buf: &mut Vec<u8>,
        items: &[T],
        compact: bool,
        mut f: impl FnMut(&mut Vec<u8>, &T) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        buf.put_len(items.len(), compact)?;
        for item in items {
            f(buf, item)?;
        }
        Ok(())
    }

    pub(crate) fn put_nullable_array<T>(
        buf: &mut Vec<u8>,
        items: Option<&[T]>,
        compact: bool,
        f: impl FnMut(&mut Vec<u8>, &T) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        match items {
            None => {
                buf.put_null_len(compact);
                Ok(())
            }
            Some(items) => put_array(buf, items, compact, f),
        }
    }

    pub(crate) fn put_structs<T: Encodable>(
        buf: &mut Vec<u8>,
        items: &[T],
        compact: bool,
        version: i16,
    ) -> Result<(), EncodeError> {
        put_array(buf, items, compact, |b, x| x.encode(b, version))
    }

    pub(crate) fn put_nullable_structs<T: Encodable>(
        buf: &mut Vec<u8>,
        items: Option<&[T]>,
        compact: bool,
        version: i16,
    ) -> Result<(), EncodeError> {
        put_nullable_array(buf, items, compact, |b, x| x.encode(b, version))
    }

    /// A nullable struct: in nullable versions an `i8` marker (-1 null, 1 present) precedes it.
    pub(crate) fn put_opt_struct<T: Encodable>(
        buf: &mut Vec<u8>,
        value: Option<&T>,
        nullable: bool,
        what: &str,
        version: i16,
    ) -> Result<(), EncodeError> {
        match value {
            None if nullable => {
                buf.put_i8(-1);
                Ok(())
            }
            None => Err(null_err(what, version)),
            Some(v) => {
                if nullable {
                    buf.put_i8(1);
                }
                v.encode(buf, version)
            }
        }
    }

    /// Encodes one known tagged field into `out`.
    pub(crate) fn tagged_field(
        out: &mut Vec<(u32, Vec<u8>)>,
        tag: u32,
        f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let mut data = Vec::new();
        f(&mut data)?;
        out.push((tag, data));
        Ok(())
    }

    /// Writes the tagged-field section: known and unknown fields, sorted by tag.
    pub(crate) fn put_tagged(
        buf: &mut Vec<u8>,
        known: Vec<(u32, Vec<u8>)>,
        unknown: &[RawTaggedField],
    ) -> Result<(), EncodeError> {
        let mut all: Vec<(u32, &[u8])> = known
            .iter()
            .map(|(t, d)| (*t, d.as_slice()))
            .chain(unknown.iter().map(|f| (f.tag, f.data.as_slice())))
            .collect();
        all.sort_by_key(|e| e.0);
        if let Some(w) = all.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(EncodeError::new(format!("tagged field {} appears twice", w[0].0)));
        }
        put_tagged_fields(buf, &all);
        Ok(())
    }

    /// Unknown tagged fields cannot be written in a non-flexible version.
    pub(crate) fn no_tagged(unknown: &[RawTaggedField], what: &str, version: i16) -> Result<(), EncodeError> {
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(EncodeError::new(format!(
                "{what} has tagged fields, but version {version} is not flexible"
            )))
        }
    }

    pub(crate) fn non_null<T>(value: Option<T>, what: &str) -> DecodeResult<T> {
        value.ok_or_else(|| DecodeError::new(format!("{what} is null, but it is not nullable")))
    }

    pub(crate) fn check_null<T>(value: Option<T>, nullable: bool, what: &str) -> DecodeResult<Option<T>> {
        if value.is_none() && !nullable {
            return Err(DecodeError::new(format!("{what} is null, but it is not nullable in this version")));
        }
        Ok(value)
    }

    pub(crate) fn read_structs<T: Decodable>(
        r: &mut Reader,
        compact: bool,
        min_item_size: usize,
        version: i16,
    ) -> DecodeResult<Option<Vec<T>>> {
        r.read_array(compact, min_item_size, |r| T::decode(r, version))
    }

    pub(crate) fn read_opt_struct<T: Decodable>(r: &mut Reader, nullable: bool, version: i16) -> DecodeResult<Option<T>> {
        if nullable && r.read_i8()? < 0 {
            return Ok(None);
        }
        T::decode(r, version).map(Some)
    }

    /// A known tagged field must use all of its bytes.
    pub(crate) fn tag_end(r: &Reader, tag: u32) -> DecodeResult<bool> {
        if r.is_empty() {
            Ok(true)
        } else {
            Err(DecodeError::new(format!("tagged field {tag} has {} trailing bytes", r.remaining())))
        }
    }

    // The builders behind the generated `sample_n` (test and fuzzing only).
    #[cfg(any(test, feature = "unstable"))]
    pub(crate) fn sample_str(k: usize, n: usize) -> String {
        format!("s{k}-{n}")
    }

    #[cfg(any(test, feature = "unstable"))]
    pub(crate) fn sample_bytes(k: usize, n: usize) -> Bytes {
        Bytes::from(format!("b{k}-{n}"))
    }

    #[cfg(any(test, feature = "unstable"))]
    pub(crate) fn sample_uuid(k: usize, n: usize) -> Uuid {
        let mut u = [0u8; 16];
        u[..8].copy_from_slice(&(k as u64).to_be_bytes());
        u[8..].copy_from_slice(&(n as u64 + 1).to_be_bytes());
        Uuid(u)
    }

    #[cfg(any(test, feature = "unstable"))]
    pub(crate) fn sample_vec<T>(n: usize, f: impl FnMut(usize) -> T) -> Vec<T> {
        (2 * n..2 * n + 2).map(f).collect()
    }

    #[cfg(any(test, feature = "unstable"))]
    pub(crate) fn sample_opt<T>(nullable: bool, k: usize, n: usize, value: T) -> Option<T> {
        if nullable && (k + n) % 2 == 1 { None } else { Some(value) }
    }

    #[cfg(any(test, feature = "unstable"))]
    pub(crate) fn sample_tags(flexible: bool, n: usize) -> Vec<RawTaggedField> {
        if flexible {
            vec![RawTaggedField {
                tag: 1000 + n as u32,
                data: Bytes::from(vec![n as u8, 0xab]),
            }]
        } else {
            Vec::new()
        }
    }
}
'''


def gen_mod_rs(msgs: list[Message]) -> str:
    out = [
        "//! Kafka API messages, one module per JSON message definition.\n",
        "//!\n",
        "//! Generated by `codegen/generate.py` (see `codegen/README.md`); do not edit by hand.\n",
        "//! Every struct implements [`Encodable`](super::Encodable) and\n",
        "//! [`Decodable`](super::Decodable) for all versions of its message; requests and\n",
        "//! responses also implement [`Request`](super::Request) / [`Response`](super::Response).\n",
        "\n",
        "#![allow(clippy::derivable_impls)] // every struct has a manual Default honoring the JSON defaults\n",
        "\n",
    ]
    for m in msgs:
        out.append(f"pub mod {m.module};\n")
    out.append("\n")
    for m in msgs:
        out.append(f"pub use {m.module}::{m.file};\n")
    out.append(SUPPORT)
    out.append(
        "\n/// Calls the macro `$m` once with the list of every generated top-level message,\n"
        "/// as `kind Type` pairs (`request`, `response` or `data`). For tests and fuzzing\n"
        "/// (feature `unstable`).\n"
        "#[cfg(feature = \"unstable\")]\n#[doc(hidden)]\n#[macro_export]\nmacro_rules! for_each_kafka_message {\n    ($m:ident) => {\n        $m! {\n"
    )
    for m in msgs:
        out.append(f"            {m.kind} $crate::unstable::protocol::messages::{m.file},\n")
    out.append("        }\n    };\n}\n")
    return "".join(out)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------
def load_messages(proto_dir: str) -> list[Message]:
    files = []
    for api in APIS:
        files += [api + "Request", api + "Response"]
    files += DATA_TYPES
    msgs = []
    for name in files:
        path = os.path.join(proto_dir, name + ".json")
        if not os.path.exists(path):
            raise GenError(f"missing message definition {path}")
        spec = load_json(path)
        if spec.get("name") != name:
            raise GenError(f"{path}: name is {spec.get('name')!r}, expected {name!r}")
        msg = Builder(spec, name).build()
        if msg.kind == "response":
            msg.client_throttle_from = client_throttle_from(msg, path)
        msgs.append(msg)
    by_name = {m.file: m for m in msgs}
    for m in msgs:
        if m.api_name in RELEASED_UNSTABLE:
            m.unstable = False
        m.max_version = m.valid[1]
        if m.kind == "request" and m.unstable:
            m.max_version = m.valid[1] - 1
        if m.kind == "response":
            req = by_name.get(m.api_name + "Request")
            if req is not None and req.unstable:
                m.max_version = min(m.valid[1], req.valid[1] - 1)
        if m.max_version < m.valid[0]:
            raise GenError(f"{m.file}: no stable version")
    msgs.sort(key=lambda m: m.module)
    return msgs


def client_throttle_from(m: Message, path: str) -> int | None:
    """The first version of response `m` whose throttle time the client must
    honour (KIP-219; see CLIENT_THROTTLE_FROM), checked against the JSON's
    comments; None when the response has no top-level `ThrottleTimeMs`."""
    field = next((f for f in m.root.fields if f.name == "ThrottleTimeMs"), None)
    known = CLIENT_THROTTLE_FROM.get(m.api_name)
    if field is None:
        if known is not None:
            raise GenError(f"{m.file}: in CLIENT_THROTTLE_FROM but has no ThrottleTimeMs field")
        return None
    if field.type != "int32" or field.is_array:
        raise GenError(f"{m.file}: ThrottleTimeMs is {field.type}, expected int32")
    if known is None:
        raise GenError(
            f"{m.file}: has a ThrottleTimeMs field: add the first version the client must "
            "honour it at (KIP-219, Java's shouldClientThrottle) to CLIENT_THROTTLE_FROM"
        )
    with open(path, encoding="utf-8") as f:
        comments = " ".join(
            line.strip()[2:].strip() for line in f if line.strip().startswith("//")
        )
    said = re.search(
        r"Starting in version (\d+), on quota violation,? brokers send out responses before throttling",
        comments,
    )
    if said and int(said.group(1)) != known:
        raise GenError(
            f"{m.file}: the JSON says clients throttle from version {said.group(1)}, "
            f"CLIENT_THROTTLE_FROM says {known}"
        )
    return known


def generate(proto_dir: str, out_dir: str) -> list[str]:
    msgs = load_messages(proto_dir)
    response_of = {m.api_name: m.file for m in msgs if m.kind == "response"}
    written = []
    os.makedirs(out_dir, exist_ok=True)
    for m in msgs:
        if m.kind == "request" and m.api_name not in response_of:
            raise GenError(f"{m.file}: no response generated")
        path = os.path.join(out_dir, m.module + ".rs")
        with open(path, "w", encoding="utf-8") as f:
            f.write(Gen(m).gen_module(response_of))
        written.append(m.module + ".rs")
    with open(os.path.join(out_dir, "mod.rs"), "w", encoding="utf-8") as f:
        f.write(gen_mod_rs(msgs))
    written.append("mod.rs")
    rustfmt = os.environ.get("RUSTFMT", "rustfmt")
    cmd = [rustfmt, "--edition", "2024"]
    for cfg in ("rustfmt.toml", ".rustfmt.toml"):
        if os.path.exists(os.path.join(REPO, cfg)):
            cmd += ["--config-path", os.path.join(REPO, cfg)]
            break
    cmd += [os.path.join(out_dir, w) for w in written]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise GenError(f"{rustfmt} not found (install it with `rustup component add rustfmt`)")
    if res.returncode != 0:
        raise GenError(f"rustfmt failed:\n{res.stderr[:4000]}")
    return sorted(written)


def compare(gen_dir: str, out_dir: str, names: list[str]) -> list[str]:
    problems = []
    existing = sorted(f for f in os.listdir(out_dir) if f.endswith(".rs")) if os.path.isdir(out_dir) else []
    for extra in sorted(set(existing) - set(names)):
        problems.append(f"stale file (not generated): {os.path.join(OUT_REL, extra)}")
    shown = 0
    for name in names:
        new_path = os.path.join(gen_dir, name)
        old_path = os.path.join(out_dir, name)
        with open(new_path, encoding="utf-8") as f:
            new = f.read()
        if not os.path.exists(old_path):
            problems.append(f"missing file: {os.path.join(OUT_REL, name)}")
            continue
        with open(old_path, encoding="utf-8") as f:
            old = f.read()
        if old != new:
            diff = list(difflib.unified_diff(
                old.splitlines(), new.splitlines(),
                fromfile=f"checked-in/{name}", tofile=f"generated/{name}", lineterm="", n=2))
            adds = sum(1 for d in diff if d.startswith("+") and not d.startswith("+++"))
            dels = sum(1 for d in diff if d.startswith("-") and not d.startswith("---"))
            msg = f"differs: {os.path.join(OUT_REL, name)} (+{adds} -{dels} lines)"
            if shown < 60:
                excerpt = diff[: 60 - shown]
                shown += len(excerpt)
                msg += "\n" + "\n".join("    " + d for d in excerpt)
            problems.append(msg)
    return problems


def main(argv=None) -> int:
    default_dir = os.environ.get("KAFKA_PROTOCOL_DIR") or os.path.join(
        REPO, "codegen", "kafka-protocol", "message")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol-dir", default=default_dir,
                    help="directory of Kafka's JSON message definitions (default: %(default)s)")
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if the checked-in output differs from a fresh generation")
    args = ap.parse_args(argv)
    proto_dir = os.path.normpath(os.path.abspath(args.protocol_dir))
    if not os.path.isdir(proto_dir):
        print(f"error: protocol directory not found: {proto_dir} "
              f"(pass --protocol-dir or set KAFKA_PROTOCOL_DIR)", file=sys.stderr)
        return 2
    out_dir = os.path.join(REPO, OUT_REL)
    with tempfile.TemporaryDirectory(prefix="kafka-codegen-") as tmp:
        try:
            names = generate(proto_dir, tmp)
        except GenError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.check:
            problems = compare(tmp, out_dir, names)
            if problems:
                print(f"generated code is out of date ({len(problems)} file(s)); "
                      f"run `python3 codegen/generate.py`:", file=sys.stderr)
                for p in problems:
                    print("  " + p, file=sys.stderr)
                return 1
            print(f"ok: {len(names)} files in {OUT_REL} are up to date")
            return 0
        os.makedirs(out_dir, exist_ok=True)
        changed = 0
        for name in names:
            src = os.path.join(tmp, name)
            dst = os.path.join(out_dir, name)
            with open(src, encoding="utf-8") as f:
                new = f.read()
            old = None
            if os.path.exists(dst):
                with open(dst, encoding="utf-8") as f:
                    old = f.read()
            if old != new:
                shutil.copyfile(src, dst)
                changed += 1
        removed = 0
        for extra in sorted(set(f for f in os.listdir(out_dir) if f.endswith(".rs")) - set(names)):
            os.remove(os.path.join(out_dir, extra))
            removed += 1
        print(f"wrote {OUT_REL}: {len(names)} files ({changed} changed, {removed} removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
