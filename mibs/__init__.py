"""Check profiles (profiles/*.yaml) and the MIB data they are resolved from: index.json, compiled at build
time from src/ and net-snmp's MIBs by build_index.py, read at run time by names.py."""
