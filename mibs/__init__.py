"""Check profiles (profiles/*.yaml) and, later, the MIB data they are resolved from."""
