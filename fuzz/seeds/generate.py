#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the conformance vectors.

Run from the repository root: python3 fuzz/seeds/generate.py [path/to/aws-vectors.json]
(default ../shared/conformance/aws-vectors.json). The files it writes are committed; run it
again only when the vectors change. Each seed is named after the vector it comes from.
"""
import json
import os
import sys
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    HERE, "..", "..", "..", "shared", "conformance", "aws-vectors.json")

FIELDS = [("ID", "ID"), ("AllowedHeaders", "AllowedHeader"), ("AllowedMethods", "AllowedMethod"),
          ("AllowedOrigins", "AllowedOrigin"), ("ExposeHeaders", "ExposeHeader"),
          ("MaxAgeSeconds", "MaxAgeSeconds")]


def rules_of(config):
    if isinstance(config, dict):
        return config.get("CORSRules", [])
    return config


def to_xml(rules, namespace=True):
    out = ['<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' if namespace
           else "<CORSConfiguration>"]
    for rule in rules:
        out.append("<CORSRule>")
        for key, element in FIELDS:
            value = rule.get(key)
            if value is None:
                continue
            for v in value if isinstance(value, list) else [value]:
                out.append(f"<{element}>{escape(str(v))}</{element}>")
        out.append("</CORSRule>")
    out.append("</CORSConfiguration>")
    return "\n".join(out)


def write(target, name, data):
    directory = os.path.join(HERE, target)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    with open(VECTORS) as f:
        vectors = json.load(f)
    configs = {}
    for case in vectors["cases"]:
        if case["config"] is not None:
            configs.setdefault(json.dumps(case["config"], sort_keys=True), case["name"])
    for case in vectors["config_cases"]:
        config = case.get("config")
        if isinstance(config, str):
            write("xml_parser", f"{case['name']}.xml", config)
            write("round_trip", f"{case['name']}.xml", config)
        elif config is not None:
            configs.setdefault(json.dumps(config, sort_keys=True), case["name"])
        if case.get("wire_xml"):
            write("xml_parser", f"{case['name']}.wire.xml", case["wire_xml"])
    for text, name in configs.items():
        rules = rules_of(json.loads(text))
        cli = json.dumps({"CORSRules": rules}, indent=1)
        bare = json.dumps(rules)
        xml = to_xml(rules)
        write("json_parser", f"{name}.cli.json", cli)
        write("json_parser", f"{name}.console.json", bare)
        write("xml_parser", f"{name}.xml", xml)
        write("xml_parser", f"{name}.nons.xml", to_xml(rules, namespace=False))
        write("round_trip", f"{name}.json", cli)
        write("round_trip", f"{name}.xml", xml)

    # The request path: CONFIG \0 FLAGS REQUEST (see fuzz/src/lib.rs, `Case`).
    default = [{"AllowedOrigins": ["https://*.example.com", "null", "*"], "AllowedMethods": ["GET", "PUT"],
                "AllowedHeaders": ["x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]
    for case in vectors["cases"]:
        rules = rules_of(case["config"]) if case["config"] is not None else default
        request = case["request"]
        path = request["path"].split("?")[0]
        head = [f"{request['method']} {path}"]
        head += [f"{k}: {v}" for k, v in request["headers"].items()]
        for flags in (0, 0x3f):
            data = json.dumps(rules).encode() + b"\0" + bytes([flags]) + "\n".join(head).encode()
            write("request_path", f"{case['name']}.{flags:02x}", data)
    # Hand-written shapes the vectors do not show: CDATA, comments, references, a DOCTYPE.
    extra_xml = {
        "cdata_comment_refs.xml": "<?xml version=\"1.0\"?><!-- c --><CORSConfiguration><CORSRule>"
        "<ID><![CDATA[a<b]]>&amp;&#x41;&#13;</ID><AllowedOrigin>http://*.a.com</AllowedOrigin>"
        "<AllowedMethod>GET</AllowedMethod><AllowedHeader>X-Amz-*</AllowedHeader>"
        "<MaxAgeSeconds> -5 </MaxAgeSeconds></CORSRule></CORSConfiguration>",
        "doctype_entities.xml": "<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;\">]>"
        "<CORSConfiguration><CORSRule><AllowedOrigin>&b;</AllowedOrigin>"
        "<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    }
    # The serde path once accepted unknown members that from_json refused.
    extra_json = {
        "unknown_top_level_member.json": '{"CORSRules": [{"AllowedOrigins": ["*"], '
        '"AllowedMethods": ["GET"]}], "CORSRule": []}',
        "null_members.json": '[{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], '
        '"MaxAgeSeconds": null, "ID": null}]',
    }
    for name, text in extra_json.items():
        write("json_parser", name, text)
        write("round_trip", name, text)
    for name, text in extra_xml.items():
        write("xml_parser", name, text)
        write("round_trip", name, text)
    extra_requests = {
        "near_misses": (0, ["OPTIONS /key", "Origin: https://A.example.com/", "Origin: null",
                            "Access-Control-Request-Method: PUT",
                            "Access-Control-Request-Headers:  X-Amz-Date ,, x-amz-meta-a\t",
                            "Access-Control-Request-Headers: content-type",
                            "Access-Control-Request-Private-Network: true"]),
        "actual_with_acrm": (0x21, ["GET /", "Origin: https://.example.com",
                                    "Access-Control-Request-Method: PUT",
                                    "Access-Control-Request-Headers: x-amz-a"]),
        "obs_text": (0x14, ["OPTIONS /", "Origin: https://\xff\xfe.example.com",
                            "Access-Control-Request-Method: <G&T>\x80"]),
        # Fetch Metadata (flag 0x80): another site's <img>, the API's own page under enforce, a
        # cross-site navigation with cache-safe Vary, another site's form POST.
        "fetch_metadata_cross_site_image": (0x80, ["GET /key", "Sec-Fetch-Site: cross-site",
                                                   "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: image"]),
        "fetch_metadata_same_origin_enforce": (0xa4, ["POST /key", "Origin: http://127.0.0.1",
                                                      "Sec-Fetch-Site: same-origin"]),
        "fetch_metadata_navigation": (0xa1, ["GET /key", "Sec-Fetch-Site: cross-site",
                                             "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document"]),
        "fetch_metadata_form_post": (0x84, ["POST /key", "Origin: https://evil.example",
                                            "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate",
                                            "Sec-Fetch-Dest: document"]),
    }
    for name, (flags, head) in extra_requests.items():
        data = (json.dumps(default).encode() + b"\0" + bytes([flags])
                + "\n".join(head).encode("latin-1"))
        write("request_path", name, data)


if __name__ == "__main__":
    main()
