using System.Diagnostics;

namespace SineGrpc.Deploy.Tests.Support;

/// <summary>The outcome of running an external tool.</summary>
internal sealed record ToolResult(int ExitCode, string StdOut, string StdErr)
{
    public string Describe(string what) => $"{what} exited {ExitCode}\n--- stderr ---\n{StdErr}\n--- stdout ---\n{StdOut}";
}

/// <summary>Finds and runs the command-line tools (helm, yamllint) the checks need.</summary>
internal static class Tool
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>helm from $HELM, else .tools/helm/helm in the repository (scripts/install-helm), else PATH.</summary>
    public static string Helm => Find(
        "HELM", Repo.File(".tools", "helm", "helm"), "helm",
        "helm is needed by the deployment tests and was not found ($HELM, .tools/helm/helm, PATH). " +
        "Install it with scripts/install-helm (scripts/install-deps runs it), or point HELM at a helm 3 binary.");

    /// <summary>yamllint from $YAMLLINT, else PATH.</summary>
    public static string YamlLint => Find(
        "YAMLLINT", null, "yamllint",
        "yamllint is needed by the deployment tests and was not found ($YAMLLINT, PATH). " +
        "Install it with `apt-get install yamllint` (scripts/install-deps does).");

    public static ToolResult Run(string tool, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Repo.Root,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        // helm must not reach for a cluster or a user's repositories.
        start.Environment["KUBECONFIG"] = "/dev/null";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', start.ArgumentList)} ran over {Timeout}");
        }
        return new ToolResult(process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }

    private static string Find(string variable, string? repoCopy, string name, string howToInstall)
    {
        var configured = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(configured))
        {
            if (File.Exists(configured))
                return configured;
            Assert.Fail($"${variable} is {configured}, which does not exist. {howToInstall}");
        }
        if (repoCopy is not null && File.Exists(repoCopy))
            return repoCopy;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
                return candidate;
        }
        Assert.Fail(howToInstall);
        return ""; // not reached
    }
}
