{{/* Chart name, overridable. */}}
{{- define "sine-grpc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full object name: the release name, with the chart name appended unless it is already in it. */}}
{{- define "sine-grpc.fullname" -}}
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

{{/* The headless Service's name (client-side balancing). */}}
{{- define "sine-grpc.headlessName" -}}
{{- printf "%s-headless" (include "sine-grpc.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/* Labels that select the pods: never change them on an installed release. */}}
{{- define "sine-grpc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sine-grpc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/* Labels on every object. */}}
{{- define "sine-grpc.labels" -}}
{{ include "sine-grpc.selectorLabels" . }}
app.kubernetes.io/part-of: sine-grpc
app.kubernetes.io/version: {{ include "sine-grpc.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sine-grpc.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "sine-grpc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sine-grpc.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Engine__Device: engine.device, else cuda with a GPU and cpu without. */}}
{{- define "sine-grpc.device" -}}
{{- if .Values.engine.device }}
{{- .Values.engine.device }}
{{- else if .Values.gpu.enabled }}
{{- "cuda" }}
{{- else }}
{{- "cpu" }}
{{- end }}
{{- end }}

{{/* SIGTERM comes after the preStop sleep; the drain then needs its grace period, plus slack. */}}
{{- define "sine-grpc.terminationGracePeriodSeconds" -}}
{{- add (int .Values.drain.preStopSleepSeconds) (int .Values.drain.gracePeriodSeconds) (int .Values.drain.terminationExtraSeconds) }}
{{- end }}

{{/* Settings checks that would otherwise show up only as a misbehaving cluster. */}}
{{- define "sine-grpc.validate" -}}
{{- $sources := list "image" "pvc" "initContainer" }}
{{- if not (has .Values.models.source $sources) }}
{{- fail (printf "models.source must be one of image, pvc, initContainer (got %q)" .Values.models.source) }}
{{- end }}
{{- if and (eq .Values.models.source "pvc") (not .Values.models.pvc.claimName) }}
{{- fail "models.source=pvc needs models.pvc.claimName (an existing PersistentVolumeClaim)" }}
{{- end }}
{{- if and (eq .Values.models.source "initContainer") (not .Values.models.initContainer.image) }}
{{- fail "models.source=initContainer needs models.initContainer.image" }}
{{- end }}
{{- if not (has (include "sine-grpc.device" .) (list "auto" "cuda" "cpu")) }}
{{- fail (printf "engine.device must be auto, cuda or cpu (got %q)" .Values.engine.device) }}
{{- end }}
{{- if and (not .Values.gpu.enabled) (eq (include "sine-grpc.device" .) "cuda") }}
{{- fail "engine.device=cuda needs gpu.enabled=true" }}
{{- end }}
{{- if eq (int .Values.service.grpcPort) (int .Values.metrics.port) }}
{{- fail "service.grpcPort and metrics.port must differ" }}
{{- end }}
{{- if le (mul (int .Values.probes.liveness.periodSeconds) (int .Values.probes.liveness.failureThreshold)) (int .Values.drain.gracePeriodSeconds) }}
{{- fail "probes.liveness.periodSeconds x failureThreshold must exceed drain.gracePeriodSeconds: health is NOT_SERVING while a pod drains" }}
{{- end }}
{{- if le (int .Values.drain.terminationExtraSeconds) 10 }}
{{- fail "drain.terminationExtraSeconds must exceed 10: the server's own shutdown timeout is drain.gracePeriodSeconds + 10" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (ge (int .Values.autoscaling.targetStreamsPerPod) (int .Values.limits.maxConcurrentStreams)) }}
{{- fail "autoscaling.targetStreamsPerPod must be below limits.maxConcurrentStreams, or pods refuse streams before the HPA adds any" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.tls.secretName) }}
{{- fail "ingress.enabled needs ingress.tls.secretName: ingress-nginx serves gRPC (HTTP/2) to clients only over TLS" }}
{{- end }}
{{- end }}
