"""The env pack bundled with codegym-adapters: CodeGym-format env files, found by the catalog."""
