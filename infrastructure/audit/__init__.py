"""The auditor's tools: chain verification, the cycle export and its HTML report."""
