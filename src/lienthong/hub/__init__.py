"""The national document exchange hub (trục liên thông văn bản quốc gia): agencies send
signed edXML packages to one or many recipients, receive theirs, and feed processing statuses
back; nothing accepted is lost or delivered twice."""
