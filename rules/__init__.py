"""Mail is judged: one module per completeness or consistency rule of DOMAIN.md section 9."""
