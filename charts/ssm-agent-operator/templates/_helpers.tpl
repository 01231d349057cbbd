{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "ssm-agent-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: <release>-<chart>, or <release> when the release name already contains the chart name.
*/}}
{{- define "ssm-agent-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "ssm-agent-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of the operator pods: stable for the life of a release (never add the version here).
The component label keeps the node-agent pods, which the operator creates in the same namespace, out of the
operator's Service, Deployment and PodDisruptionBudget.
*/}}
{{- define "ssm-agent-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ssm-agent-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/*
Standard labels on every object of the chart.
*/}}
{{- define "ssm-agent-operator.labels" -}}
helm.sh/chart: {{ include "ssm-agent-operator.chart" . }}
{{ include "ssm-agent-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | toString | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: ssm-agent-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Name of the operator's ServiceAccount.
*/}}
{{- define "ssm-agent-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ssm-agent-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Operator image reference: image.repository with its registry replaced by global.imageRegistry (the first path
component is a registry when it has a "." or ":" or is localhost, as container runtimes read it), then @digest, or
:tag (default the appVersion).
*/}}
{{- define "ssm-agent-operator.image" -}}
{{- $repository := .Values.image.repository }}
{{- $registry := (.Values.global | default dict).imageRegistry | default "" | trimSuffix "/" }}
{{- if $registry }}
{{- $parts := splitList "/" $repository }}
{{- $first := first $parts }}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq "localhost" $first)) }}
{{- $repository = rest $parts | join "/" }}
{{- end }}
{{- $repository = printf "%s/%s" $registry $repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/*
Node-agent image reference: nodeAgent.image, else the operator's own image.
*/}}
{{- define "ssm-agent-operator.nodeAgentImage" -}}
{{- .Values.nodeAgent.image | default (include "ssm-agent-operator.image" .) }}
{{- end }}

{{/*
Leader election is on when asked for, and always with more than one replica.
*/}}
{{- define "ssm-agent-operator.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ else }}false{{ end }}
{{- end }}
