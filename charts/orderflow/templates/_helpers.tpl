{{- define "orderflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "orderflow.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* orderflow.selector: labels selecting one component's pods. */}}
{{- define "orderflow.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "orderflow.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "orderflow.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "orderflow.securityContext" -}}
{{ toYaml .Values.securityContext }}
{{- end -}}

{{- define "orderflow.temporalAddress" -}}
{{- if .Values.temporal.dev.enabled -}}
{{ include "orderflow.fullname" . }}-temporal:7233
{{- else -}}
{{ .Values.temporal.address }}
{{- end -}}
{{- end -}}

{{/* orderflow.temporalEnv: how the manager and worker reach Temporal. */}}
{{- define "orderflow.temporalEnv" -}}
- name: TEMPORAL_HOST_PORT
  value: {{ include "orderflow.temporalAddress" . | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
{{- if and .Values.temporal.tls.enabled (not .Values.temporal.dev.enabled) }}
- name: TEMPORAL_TLS_CERT
  value: /etc/temporal-tls/tls.crt
- name: TEMPORAL_TLS_KEY
  value: /etc/temporal-tls/tls.key
- name: TEMPORAL_TLS_CA
  value: /etc/temporal-tls/ca.crt
{{- end }}
{{- if and .Values.temporal.tls.serverName (not .Values.temporal.dev.enabled) }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ .Values.temporal.tls.serverName | quote }}
{{- end }}
{{- if and .Values.temporal.apiKey.existingSecret (not .Values.temporal.dev.enabled) }}
- name: TEMPORAL_API_KEY_FILE
  value: /etc/temporal-api-key/apiKey
{{- end }}
{{- end -}}

{{- define "orderflow.temporalTLSVolume" -}}
{{- if and .Values.temporal.tls.enabled (not .Values.temporal.dev.enabled) }}
- name: temporal-tls
  secret:
    secretName: {{ required "temporal.tls.existingSecret is required with temporal.tls.enabled" .Values.temporal.tls.existingSecret }}
{{- end }}
{{- if and .Values.temporal.apiKey.existingSecret (not .Values.temporal.dev.enabled) }}
- name: temporal-api-key
  secret:
    secretName: {{ .Values.temporal.apiKey.existingSecret }}
    items: [{key: apiKey, path: apiKey}]
{{- end }}
{{- end -}}

{{- define "orderflow.temporalTLSMount" -}}
{{- if and .Values.temporal.tls.enabled (not .Values.temporal.dev.enabled) }}
- name: temporal-tls
  mountPath: /etc/temporal-tls
  readOnly: true
{{- end }}
{{- if and .Values.temporal.apiKey.existingSecret (not .Values.temporal.dev.enabled) }}
- name: temporal-api-key
  mountPath: /etc/temporal-api-key
  readOnly: true
{{- end }}
{{- end -}}

{{- define "orderflow.postgresSecret" -}}
{{- if .Values.postgresql.existingSecret -}}
{{ .Values.postgresql.existingSecret }}
{{- else -}}
{{ include "orderflow.fullname" . }}-postgresql
{{- end -}}
{{- end -}}

{{/* orderflow.postgresEnv: credentials come from Secrets, never from args. */}}
{{- define "orderflow.postgresEnv" -}}
{{- if .Values.postgresql.enabled }}
- name: POSTGRES_HOST
  value: {{ include "orderflow.fullname" . }}-postgresql
- name: POSTGRES_PORT
  value: "5432"
- name: POSTGRES_DB
  value: {{ .Values.postgresql.database | quote }}
- name: POSTGRES_USER
  value: {{ .Values.postgresql.username | quote }}
- name: POSTGRES_SSLMODE
  value: disable
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "orderflow.postgresSecret" . }}
      key: password
{{- else }}
- name: POSTGRES_DSN
  valueFrom:
    secretKeyRef:
      name: {{ required "postgresql.external.existingSecret is required with postgresql.enabled=false" .Values.postgresql.external.existingSecret }}
      key: dsn
{{- end }}
{{- end -}}

{{/* GOMEMLIMIT from the container's memory limit: the Go runtime collects
harder near the limit instead of being killed at it. */}}
{{- define "orderflow.goMemLimit" -}}
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef: {resource: limits.memory}
{{- end }}

{{- define "orderflow.codecSecret" -}}
{{- if .Values.codec.existingSecret -}}
{{ .Values.codec.existingSecret }}
{{- else -}}
{{ include "orderflow.fullname" . }}-codec
{{- end -}}
{{- end -}}

{{/* orderflow.codecEnv, codecVolume, codecMount: the payload encryption
keys, mounted from their Secret into the manager and worker. */}}
{{- define "orderflow.codecEnv" -}}
{{- if .Values.codec.enabled }}
- name: CODEC_KEYS_FILE
  value: /etc/orderflow/codec/keys
{{- end }}
{{- end -}}

{{- define "orderflow.codecVolume" -}}
{{- if .Values.codec.enabled }}
- name: codec-keys
  secret:
    secretName: {{ include "orderflow.codecSecret" . }}
    items: [{key: keys, path: keys}]
{{- end }}
{{- end -}}

{{- define "orderflow.codecMount" -}}
{{- if .Values.codec.enabled }}
- name: codec-keys
  mountPath: /etc/orderflow/codec
  readOnly: true
{{- end }}
{{- end -}}

{{- define "orderflow.codecServerKubernetes" -}}
{{- if and .Values.worker.codecServer.enabled (eq .Values.worker.codecServer.auth "kubernetes") -}}
true
{{- end -}}
{{- end -}}

{{/* The Pod's spread: the component's own constraints, or its replicas
spread over nodes and zones where the scheduler can. */}}
{{- define "orderflow.spread" -}}
{{- $selector := include "orderflow.selector" (dict "root" .root "component" .component) -}}
topologySpreadConstraints:
{{- if .values.topologySpreadConstraints }}
{{- toYaml .values.topologySpreadConstraints | nindent 0 }}
{{- else }}
{{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
- maxSkew: 1
  topologyKey: {{ . }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels: {{- $selector | nindent 6 }}
{{- end }}
{{- end }}
{{- end -}}
