"""IF-MIB (and friends) OIDs and the enum names LibreNMS stores instead of numbers.

LibreNMS keeps snmpwalk's textual enum values in ``ports``: ifType as the IANAifType-MIB name
("ethernetCsmacd"), ifOperStatus/ifAdminStatus as IF-MIB names ("up", "lowerLayerDown"), ifDuplex as the
EtherLike-MIB name ("fullDuplex"), ifConnectorPresent as TruthValue ("true"/"false"). No MIB compiler is
needed for these few, so the tables are written out here. An unknown number is stored as its decimal string
(what snmpwalk prints when the MIB lacks the value).
"""

from __future__ import annotations

IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IF_X_ENTRY = "1.3.6.1.2.1.31.1.1.1"

IF_COLUMNS: dict[str, str] = {
    "ifDescr": f"{IF_ENTRY}.2",
    "ifType": f"{IF_ENTRY}.3",
    "ifMtu": f"{IF_ENTRY}.4",
    "ifSpeed": f"{IF_ENTRY}.5",
    "ifPhysAddress": f"{IF_ENTRY}.6",
    "ifAdminStatus": f"{IF_ENTRY}.7",
    "ifOperStatus": f"{IF_ENTRY}.8",
    "ifLastChange": f"{IF_ENTRY}.9",
    "ifInOctets": f"{IF_ENTRY}.10",
    "ifInUcastPkts": f"{IF_ENTRY}.11",
    "ifInNUcastPkts": f"{IF_ENTRY}.12",
    "ifInDiscards": f"{IF_ENTRY}.13",
    "ifInErrors": f"{IF_ENTRY}.14",
    "ifInUnknownProtos": f"{IF_ENTRY}.15",
    "ifOutOctets": f"{IF_ENTRY}.16",
    "ifOutUcastPkts": f"{IF_ENTRY}.17",
    "ifOutNUcastPkts": f"{IF_ENTRY}.18",
    "ifOutDiscards": f"{IF_ENTRY}.19",
    "ifOutErrors": f"{IF_ENTRY}.20",
}

IF_X_COLUMNS: dict[str, str] = {
    "ifName": f"{IF_X_ENTRY}.1",
    "ifInMulticastPkts": f"{IF_X_ENTRY}.2",
    "ifInBroadcastPkts": f"{IF_X_ENTRY}.3",
    "ifOutMulticastPkts": f"{IF_X_ENTRY}.4",
    "ifOutBroadcastPkts": f"{IF_X_ENTRY}.5",
    "ifHCInOctets": f"{IF_X_ENTRY}.6",
    "ifHCInUcastPkts": f"{IF_X_ENTRY}.7",
    "ifHCInMulticastPkts": f"{IF_X_ENTRY}.8",
    "ifHCInBroadcastPkts": f"{IF_X_ENTRY}.9",
    "ifHCOutOctets": f"{IF_X_ENTRY}.10",
    "ifHCOutUcastPkts": f"{IF_X_ENTRY}.11",
    "ifHCOutMulticastPkts": f"{IF_X_ENTRY}.12",
    "ifHCOutBroadcastPkts": f"{IF_X_ENTRY}.13",
    "ifHighSpeed": f"{IF_X_ENTRY}.15",
    "ifConnectorPresent": f"{IF_X_ENTRY}.17",
    "ifAlias": f"{IF_X_ENTRY}.18",
}

# The ifEntry columns LibreNMS walks when ifXEntry has 64-bit counters and ifHighSpeed.
IF_COLUMNS_WITH_IFX = (
    "ifDescr",
    "ifAdminStatus",
    "ifOperStatus",
    "ifLastChange",
    "ifType",
    "ifPhysAddress",
    "ifMtu",
    "ifInErrors",
    "ifOutErrors",
    "ifInDiscards",
    "ifOutDiscards",
)

DOT3_STATS_DUPLEX_STATUS = "1.3.6.1.2.1.10.7.2.1.19"  # EtherLike-MIB, indexed by ifIndex
DOT1Q_PVID = "1.3.6.1.2.1.17.7.1.4.5.1.1"  # Q-BRIDGE-MIB, indexed by dot1dBasePort
EXTRA_COLUMNS: dict[str, str] = {
    "dot3StatsDuplexStatus": DOT3_STATS_DUPLEX_STATUS,
    "dot1qPvid": DOT1Q_PVID,
}

OID_TO_NAME: dict[str, str] = {
    oid: name for name, oid in (*IF_COLUMNS.items(), *IF_X_COLUMNS.items(), *EXTRA_COLUMNS.items())
}

IF_STATUS = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}
DUPLEX_STATUS = {1: "unknown", 2: "halfDuplex", 3: "fullDuplex"}
TRUTH_VALUE = {1: "true", 2: "false"}

# IANAifType-MIB names, 1..303 (RFC 1573 + IANA registry), as snmpwalk prints them.
_IANA_IFTYPE_NAMES = """
other regular1822 hdh1822 ddnX25 rfc877x25 ethernetCsmacd iso88023Csmacd iso88024TokenBus iso88025TokenRing
iso88026Man starLan proteon10Mbit proteon80Mbit hyperchannel fddi lapb sdlc ds1 e1 basicISDN primaryISDN
propPointToPointSerial ppp softwareLoopback eon ethernet3Mbit nsip slip ultra ds3 sip frameRelay rs232 para
arcnet arcnetPlus atm miox25 sonet x25ple iso88022llc localTalk smdsDxi frameRelayService v35 hssi hippi
modem aal5 sonetPath sonetVT smdsIcip propVirtual propMultiplexor ieee80212 fibreChannel hippiInterface
frameRelayInterconnect aflane8023 aflane8025 cctEmul fastEther isdn v11 v36 g703at64k g703at2mb qllc
fastEtherFX channel ieee80211 ibm370parChan escon dlsw isdns isdnu lapd ipSwitch rsrb atmLogical ds0
ds0Bundle bsc async cnr iso88025Dtr eplrs arap propCnls hostPad termPad frameRelayMPI x213 adsl radsl sdsl
vdsl iso88025CRFPInt myrinet voiceEM voiceFXO voiceFXS voiceEncap voiceOverIp atmDxi atmFuni atmIma
pppMultilinkBundle ipOverCdlc ipOverClaw stackToStack virtualIpAddress mpc ipOverAtm iso88025Fiber tdlc
gigabitEthernet hdlc lapf v37 x25mlp x25huntGroup transpHdlc interleave fast ip docsCableMaclayer
docsCableDownstream docsCableUpstream a12MppSwitch tunnel coffee ces atmSubInterface l2vlan l3ipvlan
l3ipxvlan digitalPowerline mediaMailOverIp dtm dcn ipForward msdsl ieee1394 if-gsn dvbRccMacLayer
dvbRccDownstream dvbRccUpstream atmVirtual mplsTunnel srp voiceOverAtm voiceOverFrameRelay idsl
compositeLink ss7SigLink propWirelessP2P frForward rfc1483 usb ieee8023adLag bgppolicyaccounting
frf16MfrBundle h323Gatekeeper h323Proxy mpls mfSigLink hdsl2 shdsl ds1FDL pos dvbAsiIn dvbAsiOut plc nfas
tr008 gr303RDT gr303IDT isup propDocsWirelessMaclayer propDocsWirelessDownstream propDocsWirelessUpstream
hiperlan2 propBWAp2Mp sonetOverheadChannel digitalWrapperOverheadChannel aal2 radioMAC atmRadio imt mvl
reachDSL frDlciEndPt atmVciEndPt opticalChannel opticalTransport propAtm voiceOverCable infiniband teLink
q2931 virtualTg sipTg sipSig docsCableUpstreamChannel econet pon155 pon622 bridge linegroup voiceEMFGD
voiceFGDEANA voiceDID mpegTransport sixToFour gtp pdnEtherLoop1 pdnEtherLoop2 opticalChannelGroup homepna
gfp ciscoISLvlan actelisMetaLOOP fcipLink rpr qam lmp cblVectaStar docsCableMCmtsDownstream adsl2
macSecControlledIF macSecUncontrolledIF aviciOpticalEther atmbond voiceFGDOS mocaVersion1 ieee80216WMAN
adsl2plus dvbRcsMacLayer dvbTdm dvbRcsTdma x86Laps wwanPP wwanPP2 voiceEBS ifPwType ilan pip aluELP gpon
vdsl2 capwapDot11Profile capwapDot11Bss capwapWtpVirtualRadio bits docsCableUpstreamRfPort
cableDownstreamRfPort vmwareVirtualNic ieee802154 otnOdu otnOtu ifVfiType g9981 g9982 g9983 aluEpon
aluEponOnu aluEponPhysicalUni aluEponLogicalLink aluGponOnu aluGponPhysicalUni vmwareNicTeam - - - -
docsOfdmDownstream docsOfdmaUpstream gfast sdci xboxWireless fastdsl docsCableScte55d1FwdOob
docsCableScte55d1RetOob docsCableScte55d2DsOob docsCableScte55d2UsOob docsCableNdf docsCableNdr ptm ghn
otnOtsi otnOtuc otnOduc otnOtsig microwaveCarrierTermination microwaveRadioLinkTerminal ieee8021axDrni ax25
ieee19061nanocom cpri omni roe p2pOverLan
"""
IANA_IFTYPE: dict[int, str] = {
    number: name for number, name in enumerate(_IANA_IFTYPE_NAMES.split(), start=1) if name != "-"
}


def enum_name(table: dict[int, str], value: object) -> str | None:
    """Name for an enum integer; unknown numbers as their decimal string; None stays None."""
    if value is None:
        return None
    if isinstance(value, int):
        return table.get(value, str(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
