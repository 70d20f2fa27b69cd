using System.Text.RegularExpressions;
using System.Xml.Linq;
using SineGrpc.Deploy.Tests.Support;

namespace SineGrpc.Deploy.Tests;

/// <summary>
/// The Dockerfile cannot be built here (no Docker engine); these checks hold it to what
/// the chart and k8s/ expect of the image, and to the projects the server needs.
/// </summary>
public partial class DockerfileTests
{
    private static readonly Lazy<string> Text = new(() => File.ReadAllText(Repo.File("Dockerfile")));

    /// <summary>Instructions with their continuation lines joined, comments dropped.</summary>
    private static readonly Lazy<List<string>> Instructions = new(() =>
    {
        var result = new List<string>();
        var current = "";
        foreach (var raw in Text.Value.Split('\n'))
        {
            var line = raw.TrimEnd();
            if (line.TrimStart().StartsWith('#'))
                continue;
            current += line.EndsWith('\\') ? line[..^1] + " " : line;
            if (!line.EndsWith('\\'))
            {
                if (current.Trim().Length > 0)
                    result.Add(Regex.Replace(current.Trim(), @"\s+", " "));
                current = "";
            }
        }
        return result;
    });

    private static IEnumerable<string> Lines(string instruction) =>
        Instructions.Value.Where(i => i.StartsWith(instruction + " ", StringComparison.Ordinal)).Select(i => i[(instruction.Length + 1)..]);

    /// <summary>ENV KEY=VALUE pairs of the final stage.</summary>
    private static Dictionary<string, string> Env() =>
        Lines("ENV").SelectMany(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(pair => pair.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);

    [Fact]
    public void It_builds_on_the_dotnet_10_sdk_and_runs_on_cuda_13_with_cudnn()
    {
        Assert.Matches(@"ARG SDK_IMAGE=mcr\.microsoft\.com/dotnet/sdk:10\.0\b", Text.Value);
        Assert.Matches(@"ARG RUNTIME_IMAGE=nvidia/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu\d\d\.\d\d\b", Text.Value);
        var froms = Lines("FROM").ToList();
        Assert.Equal(["${SDK_IMAGE} AS build", "${RUNTIME_IMAGE} AS runtime"], froms);
        Assert.Contains(Lines("RUN"), run => run.Contains("dotnet publish src/SineGrpc.Server/SineGrpc.Server.csproj") && run.Contains("--self-contained") && run.Contains("-r linux-x64"));
        Assert.Contains(Lines("RUN"), run => run.Contains("libgtk-3-0t64") && run.Contains("libgtk-3-0;"));
    }

    [Fact]
    public void It_copies_every_project_the_server_builds_from()
    {
        var copies = Lines("COPY").ToList();
        foreach (var project in ServerProjectClosure())
        {
            var relative = Path.GetRelativePath(Repo.Root, project).Replace('\\', '/');
            var folder = Path.GetDirectoryName(relative)!.Replace('\\', '/');
            Assert.Contains(copies, c => c.StartsWith(relative + " ", StringComparison.Ordinal));
            Assert.Contains(copies, c => c.StartsWith(folder + "/ ", StringComparison.Ordinal));
        }
        foreach (var file in new[] { "global.json", "Directory.Build.props", "Directory.Packages.props" })
            Assert.Contains(copies, c => c.Split(' ').Contains(file));
        Assert.Contains("protos/ protos/", copies);
    }

    [Fact]
    public void The_dockerignore_keeps_what_the_build_copies()
    {
        var ignored = File.ReadAllLines(Repo.File(".dockerignore")).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Contains("**/bin/", ignored);
        Assert.Contains("**/obj/", ignored);
        foreach (var needed in new[] { "src", "/src", "src/", "/src/", "protos", "/protos/", "protos/", "*.props", "global.json", "*.json" })
            Assert.DoesNotContain(needed, ignored);
    }

    [Fact]
    public void It_runs_as_the_user_the_pods_expect()
    {
        Assert.Equal(["10001:10001"], Lines("USER"));
        var pod = Chart.Render().PodSpec;
        Assert.Equal("10001", Yaml.Str(pod, "securityContext", "runAsUser"));
        Assert.Equal("10001", Yaml.Str(pod, "securityContext", "runAsGroup"));
    }

    [Fact]
    public void It_exposes_and_listens_on_the_chart_ports()
    {
        var rendered = Chart.Render();
        var grpc = Yaml.Str(Yaml.Named(rendered.Server["ports"], "grpc"), "containerPort");
        var metrics = Yaml.Str(Yaml.Named(rendered.Server["ports"], "metrics"), "containerPort");
        Assert.Equal([$"{grpc} {metrics}"], Lines("EXPOSE"));
        var env = Env();
        Assert.Equal(rendered.Settings["Kestrel__Endpoints__Grpc__Url"], env["Kestrel__Endpoints__Grpc__Url"]);
        Assert.Equal(rendered.Settings["Kestrel__Endpoints__Metrics__Url"], env["Kestrel__Endpoints__Metrics__Url"]);
    }

    [Fact]
    public void The_embedded_model_is_built_where_the_settings_look_and_models_has_a_folder()
    {
        var env = Env();
        var settings = Chart.Render().Settings;
        var cache = env["Engine__EmbeddedModelCache"];
        Assert.Equal(settings["Engine__EmbeddedModelCache"], cache);
        Assert.Contains($"[\"/app/SineGrpc.Server\", \"build-embedded-model\", \"{cache}\"]", Lines("RUN"));
        Assert.Equal(settings["Engine__ModelsPath"], env["Engine__ModelsPath"]);
        Assert.Contains(Lines("RUN"), run => run.Contains($"mkdir -p {env["Engine__ModelsPath"]}"));
        Assert.Equal(["[\"/app/SineGrpc.Server\"]"], Lines("ENTRYPOINT"));
    }

    /// <summary>SineGrpc.Server.csproj and every project it references, transitively.</summary>
    private static List<string> ServerProjectClosure()
    {
        var seen = new List<string>();
        var queue = new Queue<string>([Repo.File("src", "SineGrpc.Server", "SineGrpc.Server.csproj")]);
        while (queue.Count > 0)
        {
            var project = Path.GetFullPath(queue.Dequeue());
            if (seen.Contains(project))
                continue;
            seen.Add(project);
            foreach (var reference in XDocument.Load(project).Descendants("ProjectReference"))
                queue.Enqueue(Path.Combine(Path.GetDirectoryName(project)!, reference.Attribute("Include")!.Value));
        }
        return seen;
    }
}
