# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the certificate storage backends (local directory, S3, Redis, Google Cloud Storage)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  backend:
    description:
      - Where certificates are stored.
      - V(local) is a directory on the host that runs the task; V(s3) is an S3 bucket (AWS or any S3-compatible
        endpoint); V(redis) is a Redis server; V(gcs) is a Google Cloud Storage bucket.
      - Only the options of the chosen backend may be set (C(local_*), C(s3_*), C(redis_*) or C(gcs_*)); an option
        of another backend is an error naming it.
    type: str
    required: true
    choices: [local, s3, redis, gcs]
  local_path:
    description:
      - Directory of the V(local) backend. Created with mode V(0700) if missing; every file in it is V(0600).
      - Required with O(backend=local).
    type: path
  s3_bucket:
    description:
      - Bucket of the V(s3) backend. It must exist. Required with O(backend=s3).
    type: str
  s3_prefix:
    description:
      - Key prefix inside the bucket under which everything is stored, for example V(autotls/prod).
      - The IAM policy in the collection's README grants access to exactly this prefix.
      - When unset, the root of the bucket.
    type: str
  s3_endpoint_url:
    description:
      - URL of an S3-compatible endpoint (MinIO, Ceph RGW, Cloudflare R2, ...). When unset, AWS S3.
      - The endpoint must support conditional writes (C(If-None-Match), C(If-Match)); locks rely on them.
    type: str
  s3_region:
    description:
      - Region of the bucket. When unset, taken from the boto3 configuration (for example E(AWS_DEFAULT_REGION)).
    type: str
  s3_access_key:
    description:
      - AWS access key id. When unset (together with O(s3_secret_key)), credentials come from the usual boto3
        chain (environment, shared files, instance or task role).
    type: str
  s3_secret_key:
    description:
      - AWS secret access key, required with O(s3_access_key). Never logged.
    type: str
  s3_session_token:
    description:
      - AWS session token of temporary credentials. Never logged.
    type: str
  s3_sse:
    description:
      - Server-side encryption of every object written.
      - V(AES256) (the default when unset) uses S3-managed keys; V(aws:kms) uses KMS (see O(s3_kms_key_id));
        V(none) sends no encryption header, for S3-compatible stores that refuse it.
    type: str
    choices: [AES256, 'aws:kms', none]
  s3_kms_key_id:
    description:
      - KMS key id, ARN or alias for O(s3_sse=aws:kms). When unset, the account's default S3 KMS key.
    type: str
  s3_ca_bundle:
    description:
      - PEM file of CA certificates used to verify the TLS certificate of O(s3_endpoint_url).
    type: path
  s3_max_attempts:
    description:
      - Attempts per S3 request, with jittered backoff on throttling, 5xx answers and connection errors, all
        within O(storage_timeout).
      - When unset, 5.
    type: int
  redis_url:
    description:
      - URL of the Redis server, V(redis://[[user]:password@]host[:port][/db]), V(rediss://...) for TLS, or
        V(unix:///path/to/socket). Never logged, because it may contain a password.
      - Required with O(backend=redis). Data is as durable as the server's persistence settings (use AOF).
    type: str
  redis_prefix:
    description:
      - Prefix of every Redis key written, followed by V(:). When unset, V(autotls).
    type: str
  gcs_bucket:
    description:
      - Bucket of the V(gcs) backend. It must exist (a missing bucket is an error naming it). Required with
        O(backend=gcs).
    type: str
  gcs_prefix:
    description:
      - Object name prefix inside the bucket under which everything is stored, for example V(autotls/prod).
      - When unset, the root of the bucket.
    type: str
  gcs_project:
    description:
      - Google Cloud project of the client. Object operations do not need it; when unset, the project of the
        credentials.
    type: str
  gcs_credentials_file:
    description:
      - Path of a service-account key file (JSON) on the host that runs the task.
      - When neither this nor O(gcs_credentials_content) is set, Application Default Credentials are used
        (E(GOOGLE_APPLICATION_CREDENTIALS), C(gcloud auth application-default login), or the metadata server of
        GCE, GKE and Cloud Run).
    type: path
  gcs_credentials_content:
    description:
      - The JSON text of a service-account key, for example from a vault. Never logged.
      - Mutually exclusive with O(gcs_credentials_file).
    type: str
  gcs_kms_key_name:
    description:
      - Cloud KMS key (CMEK) that encrypts every object written,
        V(projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<key>). When unset, the bucket's
        default encryption.
      - The Cloud Storage service agent of the project needs C(roles/cloudkms.cryptoKeyEncrypterDecrypter) on it.
    type: str
  gcs_endpoint_url:
    description:
      - URL of another GCS JSON API endpoint (an emulator such as fake-gcs-server, a private endpoint). When unset,
        V(https://storage.googleapis.com).
    type: str
  gcs_anonymous:
    description:
      - Send no credentials, for an emulator at O(gcs_endpoint_url). Never with the real service.
    type: bool
  storage_timeout:
    description:
      - Seconds one operation of the V(s3), V(redis) and V(gcs) backends may take, retries included (each HTTP
        attempt also has a 3 s connect and 5 s read timeout). When unset, 10.
      - An endpoint that does not answer within it is reported unreachable (on V(s3), the other calls of the same
        task then fail at once), so a stopped or hanging store costs a task seconds, not minutes.
    type: float
'''
