#!/usr/bin/env python3
"""Writes realm.json beside this file: the Keycloak realm the load benchmark drives.

    python3 bench/peers/keycloak/make-realm.py [--flood 64] [--deciders 256]

Realm `ciba-bench`: CIBA on (poll by default, 300 s requests, 1 s interval like scripts/bench.sh's
ciba-server, login_hint = username), ES256 as the default signature algorithm (ciba-server's
default), two confidential clients with client_secret_basic and the CIBA grant only (bench-poll,
bench-ping), users flood-0… and decider-0… (the same names as the node-oidc-provider peer).
"""
import argparse
import json
import pathlib

PING_ENDPOINT = "http://127.0.0.1:8999/ping"  # start.sh replaces it with $PING_ENDPOINT


def client(client_id, secret, mode):
    attributes = {
        "oidc.ciba.grant.enabled": "true",
        "ciba.backchannel.token.delivery.mode": mode,
        "id.token.signed.response.alg": "ES256",
        "access.token.signed.response.alg": "ES256",
    }
    if mode == "ping":
        attributes["ciba.backchannel.client.notification.endpoint"] = PING_ENDPOINT
    return {
        "clientId": client_id,
        "name": f"Load {mode}",
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "bearerOnly": False,
        "consentRequired": False,
        "clientAuthenticatorType": "client-secret",
        "secret": secret,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "fullScopeAllowed": True,
        "attributes": attributes,
    }


def key_provider(name, provider_id, **config):
    return {
        "name": name,
        "providerId": provider_id,
        "subComponents": {},
        "config": {"priority": ["100"], **{k: [v] for k, v in config.items()}},
    }


def user(name):
    return {
        "username": name,
        "enabled": True,
        "emailVerified": True,
        "email": f"{name}@bench.invalid",
        "firstName": name,
        "lastName": "Bench",
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--flood", type=int, default=64)
    parser.add_argument("--deciders", type=int, default=256)
    args = parser.parse_args()
    realm = {
        "realm": "ciba-bench",
        "enabled": True,
        # Loopback only; "external" would allow 127.0.0.1 too, "none" also allows the ping
        # endpoint and the authentication channel on plain HTTP whatever the host.
        "sslRequired": "none",
        "defaultSignatureAlgorithm": "ES256",
        "eventsEnabled": False,
        "adminEventsEnabled": False,
        "bruteForceProtected": False,
        "attributes": {
            "cibaBackchannelTokenDeliveryMode": "poll",
            "cibaExpiresIn": "300",
            "cibaInterval": "1",
            "cibaAuthRequestedUserHint": "login_hint",
        },
        # With any key provider listed, the import creates none of the defaults: these are the
        # defaults (DefaultKeyProviders.createProviders) plus ECDSA P-256 for ES256.
        "components": {
            "org.keycloak.keys.KeyProvider": [
                key_provider("ecdsa-generated", "ecdsa-generated", ecdsaEllipticCurveKey="P-256"),
                key_provider("rsa-generated", "rsa-generated", keyUse="SIG"),
                key_provider("rsa-enc-generated", "rsa-enc-generated", keyUse="ENC", algorithm="RSA-OAEP"),
                key_provider("hmac-generated-hs512", "hmac-generated", algorithm="HS512"),
                key_provider("aes-generated", "aes-generated"),
            ]
        },
        "clients": [
            client("bench-poll", "bench-poll-secret-0123456789abcdef0123456789abcdef", "poll"),
            client("bench-ping", "bench-ping-secret-0123456789abcdef0123456789abcdef", "ping"),
        ],
        "users": [user(f"flood-{i}") for i in range(args.flood)]
        + [user(f"decider-{i}") for i in range(args.deciders)],
    }
    out = pathlib.Path(__file__).with_name("realm.json")
    out.write_text(json.dumps(realm, indent=2) + "\n")
    print(f"wrote {out} ({len(realm['users'])} users)")


if __name__ == "__main__":
    main()
