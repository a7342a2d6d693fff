"""The contenders, in the order the benchmark runs them (`--only` takes their keys)."""
from bench.contenders.certbot import CertbotIssue, CertbotRenew
from bench.contenders.community_crypto import CCIssue, CCNoop
from bench.contenders.floor import Floor, LibraryPolling
from bench.contenders.ours import OursBatch, OursBatchNoop, RenewYml, SiteYml

CONTENDERS = [Floor(), LibraryPolling(), OursBatch(), SiteYml(), CertbotIssue(), CCIssue(),
              OursBatchNoop(), RenewYml(), CertbotRenew(), CCNoop()]
