using SineGrpc.Deploy.Tests.Support;

namespace SineGrpc.Deploy.Tests;

/// <summary>helm/sine-grpc: lint, and what `helm template` renders with the default and the GPU-off values.</summary>
public class ChartTests
{
    private const string GpuResource = "nvidia.com/gpu";

    public static TheoryData<string> ValueSets => new() { "default", "gpu-off" };

    private static Rendered RenderSet(string set) => set == "gpu-off" ? Chart.RenderCpu() : Chart.Render();

    [Theory]
    [MemberData(nameof(ValueSets))]
    public void Helm_lint_passes_strictly(string set)
    {
        string[] values = set == "gpu-off" ? ["--values", Chart.CpuValues] : [];
        var result = Tool.Run(Tool.Helm, ["lint", "--strict", Repo.Chart, .. values]);
        Assert.True(result.ExitCode == 0, result.Describe("helm lint --strict"));
    }

    [Fact]
    public void Default_values_take_one_gpu_on_a_gpu_node_and_insist_on_cuda()
    {
        var rendered = Chart.Render();

        Assert.Equal("1", Yaml.Str(rendered.Server, "resources", "limits", GpuResource));
        Assert.Equal("true", Yaml.Str(rendered.PodSpec, "nodeSelector", "nvidia.com/gpu.present"));
        var toleration = Yaml.ListOrEmpty(rendered.PodSpec, "tolerations").OfType<IDictionary<object, object?>>()
            .Single(t => t["key"] as string == GpuResource);
        Assert.Equal("Exists", toleration["operator"]);
        Assert.Equal("NoSchedule", toleration["effect"]);
        Assert.Equal("cuda", rendered.Settings["Engine__Device"]);
    }

    [Fact]
    public void Gpu_off_renders_nothing_about_gpus_and_runs_on_cpu()
    {
        var rendered = Chart.RenderCpu();

        Assert.DoesNotContain(GpuResource, rendered.Text);
        Assert.Null(rendered.PodSpec.TryGetValue("nodeSelector", out var selector) ? selector : null);
        Assert.Null(rendered.PodSpec.TryGetValue("tolerations", out var tolerations) ? tolerations : null);
        Assert.False(rendered.PodSpec.ContainsKey("runtimeClassName"));
        Assert.Equal("cpu", rendered.Settings["Engine__Device"]);
        // ONNX Runtime sizes its pool from the node's cores, not the pod's limit: the CPU values pin both.
        Assert.Equal(Yaml.Str(rendered.Server, "resources", "limits", "cpu"), rendered.Settings["Engine__OnnxRuntime__IntraOpThreads"]);
    }

    [Fact]
    public void Gpu_count_resource_name_and_runtime_class_come_from_values()
    {
        var rendered = Chart.Render("--set", "gpu.count=2", "--set", "gpu.resourceName=nvidia.com/mig-1g.10gb", "--set", "gpu.runtimeClassName=nvidia");

        Assert.Equal("2", Yaml.Str(rendered.Server, "resources", "limits", "nvidia.com/mig-1g.10gb"));
        Assert.Null(Yaml.At(rendered.Server, "resources", "limits", GpuResource));
        Assert.Equal("nvidia", rendered.PodSpec["runtimeClassName"]);
        // The user's other limits survive the GPU being added.
        Assert.Equal("8Gi", Yaml.Str(rendered.Server, "resources", "limits", "memory"));
    }

    [Theory]
    [MemberData(nameof(ValueSets))]
    public void Probes_are_native_grpc_health_checks_on_the_grpc_port(string set)
    {
        var rendered = RenderSet(set);
        var grpcPort = Yaml.Str(Yaml.Named(rendered.Server["ports"], "grpc"), "containerPort");
        Assert.Equal("5000", grpcPort);

        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
        {
            var spec = Yaml.Map(rendered.Server, probe);
            // gRPC probes take a port number (not a name) and the health service "".
            Assert.Equal(grpcPort, Yaml.Str(spec, "grpc", "port"));
            Assert.Equal("", Yaml.Str(spec, "grpc", "service"));
            Assert.False(spec.ContainsKey("httpGet") || spec.ContainsKey("tcpSocket") || spec.ContainsKey("exec"), $"{probe} must be a gRPC probe only");
        }

        var startupWindow = Yaml.Int(rendered.Server, "startupProbe", "periodSeconds") * Yaml.Int(rendered.Server, "startupProbe", "failureThreshold");
        Assert.True(startupWindow >= 120, $"the startup probe gives model warm-up {startupWindow} s; CPU warm-up alone takes about a minute");

        var livenessWindow = Yaml.Int(rendered.Server, "livenessProbe", "periodSeconds") * Yaml.Int(rendered.Server, "livenessProbe", "failureThreshold");
        var grace = int.Parse(Yaml.Str(rendered.Settings, "Drain__GracePeriodSeconds"));
        Assert.True(livenessWindow > grace, $"liveness fails after {livenessWindow} s of NOT_SERVING, but a drain says NOT_SERVING for {grace} s");
    }

    [Theory]
    [MemberData(nameof(ValueSets))]
    public void Ports_agree_between_kestrel_the_container_the_services_and_the_scrape_annotations(string set)
    {
        var rendered = RenderSet(set);
        var ports = Yaml.List(rendered.Server, "ports");
        Assert.Equal(2, ports.Count);
        var grpc = Yaml.Named(ports, "grpc");
        var metrics = Yaml.Named(ports, "metrics");
        Assert.Equal(("5000", "TCP"), (Yaml.Str(grpc, "containerPort"), Yaml.Str(grpc, "protocol")));
        Assert.Equal(("9464", "TCP"), (Yaml.Str(metrics, "containerPort"), Yaml.Str(metrics, "protocol")));

        Assert.Equal("http://0.0.0.0:5000", rendered.Settings["Kestrel__Endpoints__Grpc__Url"]);
        Assert.Equal("http://0.0.0.0:9464", rendered.Settings["Kestrel__Endpoints__Metrics__Url"]);

        var annotations = Yaml.Map(rendered.Deployment.Root, "spec", "template", "metadata", "annotations");
        Assert.Equal("true", annotations["prometheus.io/scrape"]);
        Assert.Equal("9464", annotations["prometheus.io/port"]);
        Assert.Equal("/metrics", annotations["prometheus.io/path"]);

        var balanced = rendered.Single("Service", Chart.Release);
        Assert.Equal("ClusterIP", Yaml.Str(balanced.Root, "spec", "type"));
        var balancedPorts = Yaml.List(balanced.Root, "spec", "ports");
        AssertServicePort(Yaml.Named(balancedPorts, "grpc"), "5000", "grpc", "kubernetes.io/h2c");
        AssertServicePort(Yaml.Named(balancedPorts, "metrics"), "9464", "metrics", "http");

        var headless = rendered.Single("Service", Chart.Release + "-headless");
        Assert.Equal("None", Yaml.Str(headless.Root, "spec", "clusterIP"));
        Assert.Equal("false", Yaml.Str(headless.Root, "spec", "publishNotReadyAddresses"));
        var headlessPorts = Yaml.List(headless.Root, "spec", "ports");
        Assert.Single(headlessPorts);
        AssertServicePort(Yaml.Named(headlessPorts, "grpc"), "5000", "grpc", "kubernetes.io/h2c");
    }

    [Fact]
    public void Ports_move_together_when_changed()
    {
        var rendered = Chart.Render("--set", "service.grpcPort=6000", "--set", "metrics.port=9100");

        Assert.Equal("6000", Yaml.Str(Yaml.Named(rendered.Server["ports"], "grpc"), "containerPort"));
        Assert.Equal("9100", Yaml.Str(Yaml.Named(rendered.Server["ports"], "metrics"), "containerPort"));
        Assert.Equal("http://0.0.0.0:6000", rendered.Settings["Kestrel__Endpoints__Grpc__Url"]);
        Assert.Equal("http://0.0.0.0:9100", rendered.Settings["Kestrel__Endpoints__Metrics__Url"]);
        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
            Assert.Equal("6000", Yaml.Str(rendered.Server, probe, "grpc", "port"));
        Assert.Equal("9100", Yaml.Str(rendered.Deployment.Root, "spec", "template", "metadata", "annotations", "prometheus.io/port"));
    }

    [Theory]
    [MemberData(nameof(ValueSets))]
    public void Labels_tie_every_object_to_the_same_pods(string set)
    {
        var rendered = RenderSet(set);
        var selector = Yaml.Map(rendered.Deployment.Root, "spec", "selector", "matchLabels");
        Assert.Equal(
            new Dictionary<object, object?> { ["app.kubernetes.io/name"] = "sine-grpc", ["app.kubernetes.io/instance"] = Chart.Release, ["app.kubernetes.io/component"] = "server" },
            selector);

        var podLabels = Yaml.Map(rendered.Deployment.Root, "spec", "template", "metadata", "labels");
        foreach (var (key, value) in selector)
            Assert.Equal(value, podLabels[key]);

        foreach (var manifest in rendered.Manifests)
        {
            foreach (var (key, value) in selector)
                Assert.True(Equals(manifest.Labels.TryGetValue(key, out var v) ? v : null, value), $"{manifest} lacks label {key}={value}");
            Assert.Equal("Helm", manifest.Labels["app.kubernetes.io/managed-by"]);
        }

        foreach (var service in rendered.Manifests.Where(m => m.Kind == "Service"))
            Assert.Equal(Yaml.Canon(selector), Yaml.Canon(Yaml.Map(service.Root, "spec", "selector")));
        Assert.Equal(Yaml.Canon(selector), Yaml.Canon(Yaml.Map(rendered.Single("PodDisruptionBudget").Root, "spec", "selector", "matchLabels")));
        Assert.Equal(Yaml.Canon(selector), Yaml.Canon(Yaml.Map(rendered.PodSpec, "topologySpreadConstraints", 0, "labelSelector", "matchLabels")));

        var hpa = rendered.Single("HorizontalPodAutoscaler");
        Assert.Equal(("apps/v1", "Deployment", rendered.Deployment.Name),
            (Yaml.Str(hpa.Root, "spec", "scaleTargetRef", "apiVersion"), Yaml.Str(hpa.Root, "spec", "scaleTargetRef", "kind"), Yaml.Str(hpa.Root, "spec", "scaleTargetRef", "name")));
        Assert.Equal(rendered.ConfigMap.Name, Yaml.Str(rendered.Server, "envFrom", 0, "configMapRef", "name"));
        Assert.Equal(rendered.Single("ServiceAccount").Name, rendered.PodSpec["serviceAccountName"]);
    }

    [Fact]
    public void Termination_grace_covers_the_prestop_sleep_and_the_drain()
    {
        var rendered = Chart.Render();
        Assert.Equal("30", rendered.Settings["Drain__GracePeriodSeconds"]);
        Assert.Equal(["sleep", "5"], Yaml.List(rendered.Server, "lifecycle", "preStop", "exec", "command").Cast<string>());
        Assert.Equal(5 + 30 + 15, Yaml.Int(rendered.PodSpec, "terminationGracePeriodSeconds"));

        var longer = Chart.Render("--set", "drain.gracePeriodSeconds=90", "--set", "probes.liveness.failureThreshold=12", "--set", "drain.preStopSleepSeconds=0");
        Assert.Equal("90", longer.Settings["Drain__GracePeriodSeconds"]);
        Assert.Equal(90 + 15, Yaml.Int(longer.PodSpec, "terminationGracePeriodSeconds"));
        Assert.False(longer.Server.ContainsKey("lifecycle"));
    }

    [Fact]
    public void The_hpa_scales_on_streams_per_pod_below_the_stream_limit_and_owns_the_replica_count()
    {
        var rendered = Chart.Render();
        var hpa = rendered.Single("HorizontalPodAutoscaler");
        Assert.Equal("autoscaling/v2", hpa.ApiVersion);
        var metric = Yaml.Map(hpa.Root, "spec", "metrics", 0);
        Assert.Equal("Pods", metric["type"]);
        Assert.Equal("sine_streams_active", Yaml.Str(metric, "pods", "metric", "name"));
        Assert.Equal("AverageValue", Yaml.Str(metric, "pods", "target", "type"));
        var target = int.Parse(Yaml.Str(metric, "pods", "target", "averageValue"));
        Assert.InRange(target, 1, int.Parse(Yaml.Str(rendered.Settings, "Limits__MaxConcurrentStreams")) - 1);
        Assert.False(Yaml.Map(rendered.Deployment.Root, "spec").ContainsKey("replicas"), "with an HPA the Deployment must not set replicas");
        // Scale down slowly: every removed pod cuts its streams after the drain.
        Assert.True(Yaml.Int(hpa.Root, "spec", "behavior", "scaleDown", "stabilizationWindowSeconds") >= 300);

        var fixedCount = Chart.Render("--set", "autoscaling.enabled=false");
        Assert.Null(fixedCount.Optional("HorizontalPodAutoscaler"));
        Assert.Equal("2", Yaml.Str(fixedCount.Deployment.Root, "spec", "replicas"));
    }

    [Fact]
    public void The_pdb_lets_one_pod_go_at_a_time()
    {
        var pdb = Chart.Render().Single("PodDisruptionBudget");
        Assert.Equal("policy/v1", pdb.ApiVersion);
        Assert.Equal("1", Yaml.Str(pdb.Root, "spec", "maxUnavailable"));
        Assert.Null(Chart.Render("--set", "pdb.enabled=false").Optional("PodDisruptionBudget"));
    }

    [Theory]
    [MemberData(nameof(ValueSets))]
    public void Pods_run_as_the_images_non_root_user_on_a_read_only_root(string set)
    {
        var rendered = RenderSet(set);
        Assert.Equal("true", Yaml.Str(rendered.PodSpec, "securityContext", "runAsNonRoot"));
        Assert.Equal("10001", Yaml.Str(rendered.PodSpec, "securityContext", "runAsUser"));
        Assert.Equal("10001", Yaml.Str(rendered.PodSpec, "securityContext", "runAsGroup"));
        Assert.Equal("false", Yaml.Str(rendered.PodSpec, "automountServiceAccountToken"));
        Assert.Equal("true", Yaml.Str(rendered.Server, "securityContext", "readOnlyRootFilesystem"));
        Assert.Equal("false", Yaml.Str(rendered.Server, "securityContext", "allowPrivilegeEscalation"));
        Assert.Equal(["ALL"], Yaml.List(rendered.Server, "securityContext", "capabilities", "drop").Cast<string>());

        // With a read-only root, /tmp is the writable place, and HOME points there.
        var tmp = Yaml.Named(rendered.Server["volumeMounts"], "tmp");
        Assert.Equal("/tmp", tmp["mountPath"]);
        Assert.NotNull(Yaml.At(Yaml.Named(rendered.PodSpec["volumes"], "tmp"), "emptyDir"));
        Assert.Equal("/tmp", Yaml.Named(rendered.Server["env"], "HOME")["value"]);
    }

    [Fact]
    public void Models_come_from_the_image_a_pvc_or_an_init_container()
    {
        var image = Chart.Render();
        Assert.Equal("/models", image.Settings["Engine__ModelsPath"]);
        Assert.DoesNotContain(Yaml.ListOrEmpty(image.PodSpec, "volumes").OfType<IDictionary<object, object?>>(), v => v["name"] as string == "models");
        Assert.False(image.PodSpec.ContainsKey("initContainers"));

        var pvc = Chart.Render("--set", "models.source=pvc", "--set", "models.pvc.claimName=sine-models", "--set", "models.pvc.subPath=bundles");
        Assert.Equal("sine-models", Yaml.Str(Yaml.Named(pvc.PodSpec["volumes"], "models"), "persistentVolumeClaim", "claimName"));
        var pvcMount = Yaml.Named(pvc.Server["volumeMounts"], "models");
        Assert.Equal(("/models", "true", "bundles"), (pvcMount["mountPath"] as string, pvcMount["readOnly"] as string, pvcMount["subPath"] as string));

        var init = Chart.Render("--set", "models.source=initContainer", "--set", "models.initContainer.image=registry.example/sine-models:1", "--set", "models.mountPath=/srv/models");
        Assert.Equal("/srv/models", init.Settings["Engine__ModelsPath"]);
        Assert.NotNull(Yaml.At(Yaml.Named(init.PodSpec["volumes"], "models"), "emptyDir"));
        var initContainer = Yaml.Named(init.PodSpec["initContainers"], "models");
        Assert.Equal("registry.example/sine-models:1", initContainer["image"]);
        Assert.Equal("/srv/models", Yaml.Named(initContainer["volumeMounts"], "models")["mountPath"]);
        Assert.Equal("/srv/models", Yaml.Named(init.Server["volumeMounts"], "models")["mountPath"]);
    }

    [Fact]
    public void The_service_monitor_scrapes_the_metrics_port_of_the_balanced_service_only()
    {
        Assert.Null(Chart.Render().Optional("ServiceMonitor"));

        var rendered = Chart.Render("--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prometheus", "--set", "metrics.podAnnotations=false");
        var monitor = rendered.Single("ServiceMonitor");
        Assert.Equal("monitoring.coreos.com/v1", monitor.ApiVersion);
        Assert.Equal("prometheus", monitor.Labels["release"]);
        var endpoint = Yaml.Map(monitor.Root, "spec", "endpoints", 0);
        Assert.Equal(("metrics", "/metrics"), (endpoint["port"] as string, endpoint["path"] as string));
        Assert.Equal([Chart.Namespace], Yaml.List(monitor.Root, "spec", "namespaceSelector", "matchNames").Cast<string>());

        var wanted = Yaml.Map(monitor.Root, "spec", "selector", "matchLabels");
        var selected = rendered.Manifests.Where(m => m.Kind == "Service" && wanted.All(l => Equals(m.Labels.TryGetValue(l.Key, out var v) ? v : null, l.Value))).ToList();
        var scraped = selected.Where(s => Yaml.List(s.Root, "spec", "ports").OfType<IDictionary<object, object?>>().Any(p => p["name"] as string == "metrics")).ToList();
        Assert.Equal([Chart.Release], scraped.Select(s => s.Name));

        var annotations = Yaml.MapOrEmpty(rendered.Deployment.Root, "spec", "template", "metadata", "annotations");
        Assert.False(annotations.ContainsKey("prometheus.io/scrape"), "with the ServiceMonitor on, annotation scraping can be turned off");
    }

    [Fact]
    public void The_ingress_speaks_grpc_to_the_pods_behind_the_tls_secret()
    {
        Assert.Null(Chart.Render().Optional("Ingress"));

        var rendered = Chart.Render("--set", "ingress.enabled=true", "--set", "ingress.host=sine.example.org", "--set", "ingress.tls.secretName=sine-tls");
        var ingress = rendered.Single("Ingress");
        Assert.Equal("networking.k8s.io/v1", ingress.ApiVersion);
        var annotations = Yaml.Map(ingress.Root, "metadata", "annotations");
        Assert.Equal("GRPC", annotations["nginx.ingress.kubernetes.io/backend-protocol"]);
        Assert.Equal("0", annotations["nginx.ingress.kubernetes.io/proxy-body-size"]);
        Assert.Equal("sine-tls", Yaml.Str(ingress.Root, "spec", "tls", 0, "secretName"));
        Assert.Equal("sine.example.org", Yaml.Str(ingress.Root, "spec", "tls", 0, "hosts", 0));
        var backend = Yaml.Map(ingress.Root, "spec", "rules", 0, "http", "paths", 0, "backend", "service");
        Assert.Equal((Chart.Release, "grpc"), (backend["name"] as string, Yaml.Str(backend, "port", "name")));
    }

    [Fact]
    public void Extra_environment_is_added_after_the_settings()
    {
        var rendered = Chart.Render("--set", "env[0].name=Logging__LogLevel__Default", "--set", "env[0].value=Debug", "--set", "engine.device=auto");
        Assert.Equal("Debug", Yaml.Named(rendered.Server["env"], "Logging__LogLevel__Default")["value"]);
        Assert.Equal("auto", rendered.Settings["Engine__Device"]);
    }

    [Fact]
    public void Changing_a_setting_rolls_the_pods()
    {
        static string Checksum(Rendered r) => Yaml.Str(r.Deployment.Root, "spec", "template", "metadata", "annotations", "checksum/config");
        Assert.NotEqual(Checksum(Chart.Render()), Checksum(Chart.Render("--set", "limits.maxConcurrentStreams=32")));
        Assert.Equal("32", Chart.Render("--set", "limits.maxConcurrentStreams=32").Settings["Limits__MaxConcurrentStreams"]);
    }

    [Theory]
    [InlineData("models.source=s3", "models.source must be one of")]
    [InlineData("models.source=pvc", "models.pvc.claimName")]
    [InlineData("models.source=initContainer", "models.initContainer.image")]
    [InlineData("engine.device=gpu", "engine.device must be auto, cuda or cpu")]
    [InlineData("gpu.enabled=false,engine.device=cuda", "engine.device=cuda needs gpu.enabled=true")]
    [InlineData("drain.gracePeriodSeconds=60", "must exceed drain.gracePeriodSeconds")]
    [InlineData("autoscaling.targetStreamsPerPod=16", "must be below limits.maxConcurrentStreams")]
    [InlineData("ingress.enabled=true", "ingress.tls.secretName")]
    [InlineData("metrics.port=5000", "must differ")]
    [InlineData("drain.terminationExtraSeconds=10", "drain.terminationExtraSeconds must exceed 10")]
    public void Bad_values_fail_the_render_with_a_reason(string set, string reason)
    {
        var result = Chart.Template("--set", set);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(reason, result.StdErr);
    }

    [Fact]
    public void Notes_show_grpcurl_commands_through_a_port_forward()
    {
        var notes = Chart.RenderNotes();
        Assert.Contains("kubectl -n sine port-forward service/sine-grpc 5000:5000 9464:9464", notes);
        Assert.Contains("grpcurl -plaintext localhost:5000 grpc.health.v1.Health/Check", notes);
        Assert.Contains("grpcurl -plaintext localhost:5000 list", notes);
        Assert.Contains("grpcurl -plaintext localhost:5000 sine.v1.Segmentation/ListModels", notes);
        Assert.Contains("curl -s localhost:9464/metrics", notes);
        Assert.Contains("dns:///sine-grpc-headless.sine.svc.cluster.local:5000", notes);
        Assert.DoesNotContain("<no value>", notes);
    }

    private static void AssertServicePort(IDictionary<object, object?> port, string number, string targetPort, string appProtocol)
    {
        Assert.Equal(number, port["port"]);
        Assert.Equal(targetPort, port["targetPort"]);
        Assert.Equal("TCP", port["protocol"]);
        Assert.Equal(appProtocol, port["appProtocol"]);
    }
}
