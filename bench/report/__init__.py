"""The report: a store's runs -> Table 1 beside the paper, the claims and why they fail, figures,
the HTML page; bundles of finished runs."""
