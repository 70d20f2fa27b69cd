using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SineGrpc.Server.Tests;

/// <summary>
/// The server process, started as `scripts/serve` starts it, refuses to start on a bad
/// setting or a taken address with one line that says why and a non-zero exit code.
/// </summary>
public sealed class StartupErrorTests
{
    [Fact]
    public async Task A_setting_out_of_range_exits_2_naming_it()
    {
        var (exitCode, stderr) = await RunServerAsync("--Limits:MaxConcurrentStreams=0");
        Assert.Equal(2, exitCode);
        Assert.Matches("(?m)^error: bad setting: .*MaxConcurrentStreams", stderr);
    }

    [Fact]
    public async Task A_taken_address_exits_1_naming_it()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (exitCode, stderr) = await RunServerAsync($"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{port}");
        Assert.Equal(1, exitCode);
        Assert.Contains($"error: cannot start: Failed to bind to address http://127.0.0.1:{port}: address already in use.", stderr);
    }

    private static async Task<(int ExitCode, string StdErr)> RunServerAsync(params string[] settings)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SineGrpc.Server.dll"));
        // Free ports and no model to build: only the start-up itself is under test.
        foreach (var setting in new[] { "--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:0", $"--Kestrel:Endpoints:Metrics:Url=http://127.0.0.1:{OwnServer.FreePort()}", "--Engine:EnableEmbeddedModel=false" }.Concat(settings))
            start.ArgumentList.Add(setting);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the server did not exit within 60 s; stdout:\n{await stdout}");
        }
        return (process.ExitCode, await stderr);
    }
}
