"""The contenders, in the order the benchmark runs them (`--only` takes their keys)."""
from bench.contenders.certbot import CertbotIssue, CertbotRenew
from bench.contenders.community_crypto import CCIssue, CCNoop
from bench.contenders.floor import Floor, LibraryPolling
from bench.contenders.hosts import HOSTS_CONTENDERS, AnsibleFloor
from bench.contenders.ours import OursBatch, OursBatchNoop, RenewYml, SiteYml

CONTENDERS = [Floor(), LibraryPolling(), OursBatch(), SiteYml(), CertbotIssue(), CCIssue(),
              AnsibleFloor(), OursBatchNoop(), RenewYml(), CertbotRenew(), CCNoop()] + HOSTS_CONTENDERS
