"""pinbot: pin files shared in Slack to IPFS through the W3IPFS pinning API."""
