using System.Collections.Concurrent;

namespace SineGrpc.Deploy.Tests.Support;

/// <summary>The chart rendered by `helm template` with some values.</summary>
internal sealed class Rendered(string text, List<Manifest> manifests)
{
    public string Text { get; } = text;

    public List<Manifest> Manifests { get; } = manifests;

    public Manifest Single(string kind, string? name = null)
    {
        var found = Manifests.Where(m => m.Kind == kind && (name is null || m.Name == name)).ToList();
        Assert.True(found.Count == 1, $"expected one {kind}{(name is null ? "" : "/" + name)}, rendered {found.Count}");
        return found[0];
    }

    public Manifest? Optional(string kind, string? name = null) =>
        Manifests.SingleOrDefault(m => m.Kind == kind && (name is null || m.Name == name));

    public Manifest Deployment => Single("Deployment");

    public Manifest ConfigMap => Single("ConfigMap");

    public IDictionary<object, object?> PodSpec => Yaml.Map(Deployment.Root, "spec", "template", "spec");

    public IDictionary<object, object?> Server => Yaml.Named(PodSpec["containers"], "server");

    public IDictionary<object, object?> Settings => Yaml.Map(ConfigMap.Root, "data");
}

internal static class Chart
{
    /// <summary>The release name the plain manifests in k8s/ correspond to.</summary>
    public const string Release = "sine-grpc";

    public const string Namespace = "sine";

    /// <summary>The GPU-off values file used in CI.</summary>
    public static string CpuValues => Path.Combine(Repo.Chart, "ci", "cpu-values.yaml");

    private static readonly ConcurrentDictionary<string, Rendered> Cache = new();

    /// <summary>`helm template` with extra arguments (e.g. "--set", "gpu.enabled=false"); fails the test if helm fails.</summary>
    public static Rendered Render(params string[] arguments) =>
        Cache.GetOrAdd(string.Join('\u0001', arguments), _ =>
        {
            var result = Template(arguments);
            Assert.True(result.ExitCode == 0, result.Describe("helm template"));
            return new Rendered(result.StdOut, Yaml.ParseAll(result.StdOut, "helm template " + string.Join(' ', arguments)));
        });

    public static Rendered RenderCpu(params string[] arguments) => Render(["--values", CpuValues, .. arguments]);

    /// <summary>`helm template` as is, for checks that expect it to fail.</summary>
    public static ToolResult Template(params string[] arguments) =>
        Tool.Run(Tool.Helm, ["template", Release, Repo.Chart, "--namespace", Namespace, .. arguments]);

    private static readonly Lazy<string> Notes = new(RenderNotesOnce);

    /// <summary>NOTES.txt as `helm install` prints it with the default values.</summary>
    public static string RenderNotes() => Notes.Value;

    /// <summary>
    /// `helm template` never renders NOTES.txt (and `helm install --dry-run` wants a
    /// cluster), so render a copy of the chart in which the notes are a template.
    /// </summary>
    private static string RenderNotesOnce()
    {
        var copy = Directory.CreateTempSubdirectory("sine-chart-");
        try
        {
            CopyTree(Repo.Chart, copy.FullName);
            var templates = Path.Combine(copy.FullName, "templates");
            var notes = File.ReadAllText(Path.Combine(templates, "NOTES.txt"));
            File.Delete(Path.Combine(templates, "NOTES.txt"));
            File.WriteAllText(Path.Combine(templates, "_notes-under-test.tpl"), "{{- define \"notes-under-test\" -}}\n" + notes + "{{- end }}\n");
            File.WriteAllText(Path.Combine(templates, "notes-under-test.yaml"), "notes: {{ include \"notes-under-test\" . | toJson }}\n");
            var result = Tool.Run(Tool.Helm, ["template", Release, copy.FullName, "--namespace", Namespace, "--show-only", "templates/notes-under-test.yaml"]);
            Assert.True(result.ExitCode == 0, result.Describe("helm template (notes)"));
            return Yaml.Str(Yaml.ParseAll(result.StdOut, "notes").Single().Root, "notes");
        }
        finally
        {
            copy.Delete(recursive: true);
        }
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }
}
