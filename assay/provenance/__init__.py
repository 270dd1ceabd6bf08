"""Provenance: C2PA Content Credentials signed under the register's CA, invisible marks, and the check."""
