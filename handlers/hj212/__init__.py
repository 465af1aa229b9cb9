"""HJ 212-2017 (and HJ/T 212-2005): the protocol Chinese monitoring stations speak to their platform over TCP.

frame     bytes on the wire <-> data segments (`##`, length, CRC16, CRLF), with resynchronisation
packet    a data segment <-> its fields (QN, ST, CN, PW, MN, Flag, PNUM, PNO, CP)
codes     the standard's tables: commands, data flags, reply codes, factor codes of both versions
uploads   data uploads (2011/2051/2061/2031) read into values, split packets reassembled
readings  an upload -> a StationReport, through the plan's station and parameter mapping
server    the asyncio gateway; station the simulator's client side
"""
